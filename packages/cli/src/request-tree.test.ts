import { describe, expect, it } from "vitest";
import { RequestViews } from "@toolformer/dashboard";
import { EventType, type OrchestrateEvent } from "@toolformer/protocol";
import { redrawFrom } from "./live-tree.ts";
import { renderRequestTree, SPINNER } from "./request-tree.ts";

const call = { requestId: "r1", tool: "add", round: 1 };
const EVENTS: OrchestrateEvent[] = [
  { type: EventType.requestAccepted, requestId: "r1", at: 1_000, model: "fake:plan", tools: ["add"] },
  { type: EventType.modelRequested, requestId: "r1", at: 1_000, round: 1 },
  {
    type: EventType.modelResponded,
    requestId: "r1",
    at: 1_100,
    round: 1,
    toolCalls: 3,
    durationMs: 100,
    usage: { inputTokens: 30, outputTokens: 12 },
  },
  { type: EventType.toolScheduled, ...call, callId: "a", at: 1_110, args: {} },
  { type: EventType.toolStarted, ...call, callId: "a", at: 1_120, attempt: 1, executor: "x" },
  { type: EventType.toolCompleted, ...call, callId: "a", at: 1_420, durationMs: 300, result: {} },
  { type: EventType.toolStarted, ...call, callId: "b", at: 1_130, attempt: 1, executor: "x" },
  { type: EventType.toolProgress, ...call, callId: "b", at: 1_200, seq: 1, partial: { done: 40 } },
  { type: EventType.toolScheduled, ...call, callId: "c", at: 1_110, args: {}, dependsOn: ["a", "b"] },
];

const viewOf = (events: OrchestrateEvent[]) => {
  const views = new RequestViews();
  for (const event of events) views.apply(event);
  return views.get("r1");
};

describe("renderRequestTree", () => {
  it("draws the turn with its calls beneath: done, running with its progress, waiting on its $refs", () => {
    expect(renderRequestTree(viewOf(EVENTS), { now: 2_500, tick: 0 })).toEqual([
      `${SPINNER[0]} r1  fake:plan  running  1.5 s`,
      "└─ ✓ model turn 1  100 ms, 3 calls, 30/12 tokens",
      "   ├─ ✓ add [a]  300 ms",
      `   ├─ ${SPINNER[0]} add [b]  1.4 s  ~ {"done":40}`,
      "   └─ · add [c] after a, b  waiting 1.4 s",
    ]);
  });

  it("turns the spinners with the tick and marks how the request and its calls ended", () => {
    const ended = viewOf([
      ...EVENTS,
      {
        type: EventType.toolFailed,
        ...call,
        callId: "b",
        at: 1_500,
        status: "timeout",
        error: { code: "TIMEOUT", message: "too slow" },
      },
      { type: EventType.toolCancelled, ...call, callId: "c", at: 1_600 },
      { type: EventType.modelRequested, requestId: "r1", at: 1_600, round: 2 },
      { type: EventType.requestCompleted, requestId: "r1", at: 1_700, status: "cancelled", rounds: 2 },
    ]);
    const lines = renderRequestTree(ended, { now: 9_000, tick: 3 });
    expect(lines[0]).toBe("✗ r1  fake:plan  cancelled  700 ms");
    expect(lines).toContain("│  ├─ ✗ add [b]  370 ms  timeout: TIMEOUT: too slow");
    expect(lines).toContain("│  └─ ⊘ add [c] after a, b  490 ms");
    expect(lines.at(-1)).toBe("└─ ⊘ model turn 2  100 ms");
    expect(renderRequestTree(viewOf(EVENTS), { now: 2_500, tick: 3 })[0]).toMatch(new RegExp(`^${SPINNER[3]} r1`));
  });

  it("marks a call that waits for approval, says how to decide, and shows decisions and cached results", () => {
    const transfer = { requestId: "r1", tool: "transfer", round: 1 };
    const lines = renderRequestTree(
      viewOf([
        ...EVENTS.slice(0, 3),
        { type: EventType.toolAwaitingApproval, ...transfer, callId: "big", at: 1_200, args: {}, expiresAt: 61_200 },
        { type: EventType.toolAwaitingApproval, ...transfer, callId: "odd", at: 1_200, args: {}, expiresAt: 61_200 },
        { type: EventType.toolAwaitingApproval, ...transfer, callId: "edit", at: 1_200, args: {}, expiresAt: 61_200 },
        {
          type: EventType.toolApprovalDecided,
          ...transfer,
          callId: "odd",
          at: 1_300,
          decision: "denied",
          edited: false,
        },
        {
          type: EventType.toolFailed,
          ...transfer,
          callId: "odd",
          at: 1_300,
          status: "failed",
          error: { code: "APPROVAL_DENIED", message: "denied by the approver" },
        },
        {
          type: EventType.toolApprovalDecided,
          ...transfer,
          callId: "edit",
          at: 1_400,
          decision: "approved",
          edited: true,
        },
        { type: EventType.toolStarted, ...transfer, callId: "edit", at: 1_410, attempt: 1, executor: "x" },
        { type: EventType.toolCompleted, ...transfer, callId: "edit", at: 1_500, durationMs: 90, result: {} },
        { type: EventType.toolCompleted, ...call, callId: "hit", at: 1_600, durationMs: 0, result: {}, cached: true },
      ]),
      { now: 2_200, tick: 0 },
    );
    expect(lines).toEqual([
      `${SPINNER[0]} r1  fake:plan  running  1.2 s`,
      "└─ ✓ model turn 1  100 ms, 3 calls, 30/12 tokens",
      "   ├─ ? transfer [big]  awaiting approval 1.0 s  expires in 59.0 s",
      "   ├─ ✗ transfer [odd]  100 ms  denied  failed: APPROVAL_DENIED: denied by the approver",
      "   ├─ ✓ transfer [edit]  90 ms  approved, arguments edited",
      "   └─ ✓ add [hit]  0 ms  cached",
      "? decide: toolformer approve r1 <call-id> [--deny] [--reason TEXT]",
    ]);
  });

  it("says it waits before the first event, and cuts lines to the terminal's width", () => {
    expect(renderRequestTree(undefined, { now: 0, tick: 1 })).toEqual([
      `${SPINNER[1]} waiting for the request to be accepted`,
    ]);
    const cut = renderRequestTree(viewOf(EVENTS), { now: 2_500, tick: 0, columns: 20 });
    expect(cut.every((line) => [...line].length <= 20)).toBe(true);
    expect(cut[3]).toMatch(/…$/);
  });
});

describe("redrawFrom", () => {
  it("moves up over what was drawn and clears below, or only clears the line the first time", () => {
    expect(redrawFrom(3)).toBe("\x1b[3F\x1b[J");
    expect(redrawFrom(0)).toBe("\r\x1b[J");
  });
});
