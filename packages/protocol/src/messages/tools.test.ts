import { describe, expect, it } from "vitest";
import { remoteToolDefinition, ToolDefinitionSchema, ToolsReplySchema } from "./tools.ts";

const written = { name: "search", description: "", parameters: {}, source: "remote" } as const;

describe("a tool's readOnly and idempotent", () => {
  it("reads a definition written before readOnly existed as not read-only, whatever its idempotent", () => {
    expect(ToolDefinitionSchema.parse({ ...written, idempotent: true })).toMatchObject({
      readOnly: false,
      idempotent: true,
    });
    const { tools } = ToolsReplySchema.parse({ tools: [{ ...written, idempotent: true }] });
    expect(tools[0]).toMatchObject({ readOnly: false, idempotent: true });
  });

  it("refuses a read-only definition that is not idempotent", () => {
    const parsed = ToolDefinitionSchema.safeParse({ ...written, readOnly: true, idempotent: false });
    expect(parsed.error?.issues[0]).toMatchObject({
      path: ["idempotent"],
      message: "a read-only tool is idempotent too",
    });
  });

  it("refuses a result cache on a tool that is not read-only, and gives a remote tool its service's version", () => {
    const cached = { ...written, idempotent: true, cache: { ttlMs: 1_000 } };
    expect(ToolDefinitionSchema.safeParse(cached).error?.issues[0]).toMatchObject({ path: ["cache"] });
    const parameters = { "toolformer.parameters": "{}", "toolformer.cache_ttl_ms": "1000" };
    expect(remoteToolDefinition("pay", { ...parameters, "toolformer.idempotent": "true" }).ok).toBe(false);
    expect(remoteToolDefinition("quote", { ...parameters, "toolformer.read_only": "true" }, "2.1.0")).toMatchObject({
      ok: true,
      definition: { cache: { ttlMs: 1_000, version: "2.1.0" } },
    });
  });
});
