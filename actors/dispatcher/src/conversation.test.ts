import { describe, expect, it } from "vitest";
import type { ToolDefinition } from "@toolformer/protocol";
import { planCall, type CallNaming } from "./conversation.ts";

const catalog = new Map<string, ToolDefinition>([
  ["echo", { name: "echo", description: "", parameters: {}, idempotent: true, source: "typescript" } as ToolDefinition],
]);

describe("planning the model's calls", () => {
  it("renames an id the request already used and points the round's references at the new one", () => {
    const used = new Set<string>();
    const first: CallNaming = { used, renamed: new Map() };
    expect(planCall({ id: "call_0", name: "echo", arguments: "{}" }, 0, 1, catalog, first).callId).toBe("call_0");

    const second: CallNaming = { used, renamed: new Map() };
    const again = planCall({ id: "call_0", name: "echo", arguments: "{}" }, 0, 2, catalog, second);
    const user = planCall(
      { id: "call_1", name: "echo", arguments: '{"value":{"$ref":"call_0#/x"}}' },
      1,
      2,
      catalog,
      second,
    );
    expect(again.callId).toBe("r2-c0");
    expect(user.args).toEqual({ value: { $ref: "r2-c0#/x" } });
  });
});
