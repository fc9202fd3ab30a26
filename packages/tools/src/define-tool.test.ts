import { describe, expect, it } from "vitest";
import { z } from "zod";
import { sensitivePaths } from "@toolformer/protocol";
import { defineTool, toolDefinitionOf } from "./define-tool.ts";

const base = { description: "", parameters: z.object({}), run: async () => null };

describe("defineTool", () => {
  it("puts readOnly and idempotent in the catalog entry; a tool that does not say is not read-only", () => {
    const lookup = defineTool({ ...base, name: "lookup", readOnly: true, idempotent: true });
    const put = defineTool({ ...base, name: "put", idempotent: true });
    expect(toolDefinitionOf(lookup)).toMatchObject({ readOnly: true, idempotent: true });
    expect(toolDefinitionOf(put)).toMatchObject({ readOnly: false, idempotent: true });
  });

  it("refuses a read-only tool that says it is not idempotent", () => {
    expect(() => defineTool({ ...base, name: "odd", readOnly: true, idempotent: false })).toThrow(
      "tool odd is read-only, so it is idempotent too: set idempotent: true",
    );
  });

  it("carries a sensitive mark set with zod's meta into the catalog's JSON Schema", () => {
    const login = defineTool({
      ...base,
      name: "login",
      idempotent: false,
      parameters: z.object({ user: z.string(), password: z.string().meta({ "x-sensitive": true }) }),
    });
    expect(sensitivePaths(toolDefinitionOf(login).parameters)).toEqual([["password"]]);
  });

  it("refuses a result cache on a tool that is not read-only, idempotent or not", () => {
    for (const idempotent of [false, true])
      expect(() => defineTool({ ...base, name: "pay", idempotent, cache: { ttlMs: 1_000 } })).toThrow(
        "tool pay caches its results, so it must be read-only",
      );
    const quote = defineTool({ ...base, name: "quote", readOnly: true, idempotent: true, cache: { ttlMs: 1_000 } });
    expect(toolDefinitionOf(quote).cache).toEqual({ ttlMs: 1_000, version: "" });
  });
});
