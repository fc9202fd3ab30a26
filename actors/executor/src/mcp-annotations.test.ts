import { describe, expect, it } from "vitest";
import { mcpToolEffects } from "./mcp-annotations.ts";

describe("an MCP tool's properties from its annotations", () => {
  it("reads readOnlyHint as read-only, and so idempotent, whatever the other hints say", () => {
    expect(mcpToolEffects({ readOnlyHint: true })).toEqual({ readOnly: true, idempotent: true });
    // The specification gives destructiveHint and idempotentHint no meaning on a read-only tool.
    expect(mcpToolEffects({ readOnlyHint: true, idempotentHint: false, destructiveHint: true })).toEqual({
      readOnly: true,
      idempotent: true,
    });
  });

  it("reads idempotentHint without readOnlyHint as idempotent only, keeping destructiveHint", () => {
    // The filesystem server's write_file: overwrites, so safe to repeat and never safe to guess.
    expect(mcpToolEffects({ readOnlyHint: false, idempotentHint: true, destructiveHint: true })).toEqual({
      readOnly: false,
      idempotent: true,
      destructive: true,
    });
    expect(mcpToolEffects({ idempotentHint: true })).toEqual({ readOnly: false, idempotent: true });
  });

  it("takes a tool with no hints for one with side effects", () => {
    expect(mcpToolEffects(undefined)).toEqual({ readOnly: false, idempotent: false });
    expect(mcpToolEffects({ destructiveHint: false })).toEqual({
      readOnly: false,
      idempotent: false,
      destructive: false,
    });
  });
});
