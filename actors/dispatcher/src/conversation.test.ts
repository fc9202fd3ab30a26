import { describe, expect, it } from "vitest";
import type { ToolDefinition } from "@toolformer/protocol";
import { planCall, planTakingOver, type CallNaming } from "./conversation.ts";

const tool = (name: string, effects: Pick<ToolDefinition, "readOnly" | "idempotent">): ToolDefinition => ({
  name,
  description: "",
  parameters: {},
  ...effects,
  source: "typescript",
});
const catalog = new Map<string, ToolDefinition>([
  ["echo", tool("echo", { readOnly: true, idempotent: true })],
  ["put", tool("put", { readOnly: false, idempotent: true })],
  [
    "login",
    {
      ...tool("login", { readOnly: false, idempotent: false }),
      parameters: { type: "object", properties: { user: {}, password: { "x-sensitive": true } } },
    },
  ],
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

  it("tells the scheduler whether each call's tool is read-only, whether it is idempotent, and what is sensitive", () => {
    const naming: CallNaming = { used: new Set(), renamed: new Map() };
    const plan = (name: string, index: number) =>
      planCall({ id: `call_${index}`, name, arguments: "{}" }, index, 1, catalog, naming).toolInfo;
    expect(plan("echo", 0)).toEqual({ known: true, readOnly: true, idempotent: true });
    expect(plan("put", 1)).toEqual({ known: true, readOnly: false, idempotent: true });
    expect(plan("invented", 2)).toEqual({ known: false, readOnly: false, idempotent: false });
    // And which arguments its schema marks sensitive, so they stay out of the events it publishes.
    expect(plan("login", 3)).toEqual({ known: true, readOnly: false, idempotent: false, sensitive: [["password"]] });
  });

  it("takes over the calls a dead dispatcher handed on for a turn asked again, by tool and arguments, ids and references included", () => {
    const earlier: CallNaming = { used: new Set(), renamed: new Map() };
    const handed = [
      planCall({ id: "call_a", name: "echo", arguments: '{"value":1}' }, 0, 1, catalog, earlier),
      planCall({ id: "call_gone", name: "echo", arguments: '{"value":"changed its mind"}' }, 1, 1, catalog, earlier),
    ];
    const naming: CallNaming = { used: new Set(), renamed: new Map() };
    const planned = planTakingOver(
      [
        { id: "call_b", name: "echo", arguments: '{"value":2}' },
        { id: "call_x", name: "echo", arguments: '{ "value" : 1 }' },
        { id: "call_y", name: "echo", arguments: '{"value":{"$ref":"call_x#/value"}}' },
      ],
      handed,
      1,
      catalog,
      naming,
    );
    expect(planned.map((call) => [call.callId, call.args])).toEqual([
      ["call_b", { value: 2 }],
      ["call_a", { value: 1 }], // taken over: it is not handed on again, and runs once
      ["call_y", { value: { $ref: "call_a#/value" } }], // its reference follows the call taken over
    ]);
    // Ids of the handed calls are not given to new calls, even those nothing took over.
    expect([...naming.used]).toEqual(expect.arrayContaining(["call_a", "call_gone"]));
  });
});
