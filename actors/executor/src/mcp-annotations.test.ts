import { describe, expect, it } from "vitest";
import { mcpToolEffects, overriddenClass, unknownOverrides } from "./mcp-annotations.ts";
import { McpServersSchema } from "./mcp-servers.ts";

describe("an MCP tool's properties from its annotations", () => {
  it("reads readOnlyHint as read-only, and so idempotent, whatever the other hints say", () => {
    expect(mcpToolEffects({ readOnlyHint: true }, undefined)).toEqual({ readOnly: true, idempotent: true });
    // The specification gives destructiveHint and idempotentHint no meaning on a read-only tool.
    expect(mcpToolEffects({ readOnlyHint: true, idempotentHint: false, destructiveHint: true }, undefined)).toEqual({
      readOnly: true,
      idempotent: true,
    });
  });

  it("reads idempotentHint without readOnlyHint as idempotent only, keeping destructiveHint", () => {
    // The filesystem server's write_file: overwrites, so safe to repeat and never safe to guess.
    expect(mcpToolEffects({ readOnlyHint: false, idempotentHint: true, destructiveHint: true }, undefined)).toEqual({
      readOnly: false,
      idempotent: true,
      destructive: true,
    });
    expect(mcpToolEffects({ idempotentHint: true }, undefined)).toEqual({ readOnly: false, idempotent: true });
  });

  it("takes a tool with no hints for one with side effects", () => {
    expect(mcpToolEffects(undefined, undefined)).toEqual({ readOnly: false, idempotent: false });
    expect(mcpToolEffects({ destructiveHint: false }, undefined)).toEqual({
      readOnly: false,
      idempotent: false,
      destructive: false,
    });
  });

  it("lets the operator's class beat the hints, both ways", () => {
    expect(mcpToolEffects(undefined, "readOnly")).toEqual({ readOnly: true, idempotent: true });
    expect(mcpToolEffects({ readOnlyHint: true }, "sideEffects")).toEqual({ readOnly: false, idempotent: false });
    expect(mcpToolEffects({ idempotentHint: true, destructiveHint: true }, "sideEffects")).toEqual({
      readOnly: false,
      idempotent: false,
      destructive: true,
    });
    expect(mcpToolEffects({ readOnlyHint: true }, "idempotent")).toEqual({ readOnly: false, idempotent: true });
  });
});

describe("the operator's overrides in TF_MCP_SERVERS", () => {
  const files = (overrides: Record<string, unknown>) =>
    McpServersSchema.safeParse({ files: { command: "npx", args: ["server"], ...overrides } });

  it("gives a named tool its list's class, and `*` the class of every tool no list names", () => {
    const parsed = files({ readOnly: ["read_text_file"], sideEffects: ["*"] });
    expect(parsed.success).toBe(true);
    const server = parsed.data!.files!;
    expect(overriddenClass(server, "read_text_file")).toBe("readOnly");
    expect(overriddenClass(server, "write_file")).toBe("sideEffects");
    expect(overriddenClass({}, "write_file")).toBeUndefined();
  });

  it("is accepted on a Streamable HTTP server too", () => {
    const parsed = McpServersSchema.safeParse({ web: { url: "http://mcp.test/mcp", idempotent: ["put"] } });
    expect(parsed.success).toBe(true);
  });

  it("refuses a tool in two lists, `*` in two lists, a name no tool can have, and an unknown list", () => {
    expect(files({ readOnly: ["a"], idempotent: ["a"] }).error?.issues[0]?.message).toBe(
      "a is already listed in readOnly",
    );
    expect(files({ readOnly: ["*"], sideEffects: ["*"] }).success).toBe(false);
    expect(files({ readOnly: ["not a name"] }).success).toBe(false);
    expect(files({ readonly: ["a"] }).success).toBe(false);
  });

  it("names the overrides that match none of the server's tools", () => {
    const overrides = { readOnly: ["read_text_file", "raed_file"], sideEffects: ["*"] };
    expect(unknownOverrides(overrides, ["read_text_file", "write_file"])).toEqual(["raed_file"]);
  });
});
