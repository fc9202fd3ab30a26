import { describe, expect, it } from "vitest";
import { EventType, type OrchestrateEvent } from "@toolformer/protocol";
import { RequestViews } from "./request-views.ts";

const call = { requestId: "r1", tool: "add", round: 1 };
const PLAN: OrchestrateEvent[] = [
  { type: EventType.requestAccepted, requestId: "r1", at: 1_000, model: "fake:plan", tools: ["add"] },
  { type: EventType.modelRequested, requestId: "r1", at: 1_010, round: 1 },
  {
    type: EventType.modelResponded,
    requestId: "r1",
    at: 1_110,
    round: 1,
    toolCalls: 2,
    durationMs: 100,
    usage: { inputTokens: 30, outputTokens: 12 },
  },
  { type: EventType.toolScheduled, ...call, callId: "a", at: 1_120, args: { a: 1, b: 2 } },
  { type: EventType.toolScheduled, ...call, callId: "b", at: 1_121, args: { a: { $ref: "a#/sum" }, b: 3 } },
  { type: EventType.toolStarted, ...call, callId: "a", at: 1_130, attempt: 1, executor: "x1" },
  { type: EventType.toolCompleted, ...call, callId: "a", at: 1_230, durationMs: 100, result: { sum: 3 } },
  { type: EventType.toolStarted, ...call, callId: "b", at: 1_240, attempt: 1, executor: "x1" },
  {
    type: EventType.toolFailed,
    ...call,
    callId: "b",
    at: 1_300,
    status: "timeout",
    error: { code: "TIMEOUT", message: "too slow" },
  },
  { type: EventType.requestCompleted, requestId: "r1", at: 1_400, status: "completed", rounds: 2 },
];

describe("RequestViews", () => {
  it("folds a request's events into its turns, calls, dependencies, tokens and end", () => {
    const views = new RequestViews();
    for (const event of PLAN) views.apply(event);
    const view = views.get("r1")!;
    expect(view).toMatchObject({ model: "fake:plan", status: "completed", acceptedAt: 1_000, endedAt: 1_400 });
    expect(view).toMatchObject({ rounds: 2, inputTokens: 30, outputTokens: 12 });
    expect(view.turns).toEqual([
      { round: 1, requestedAt: 1_010, respondedAt: 1_110, toolCalls: 2, inputTokens: 30, outputTokens: 12 },
    ]);
    expect(view.calls.map((c) => [c.callId, c.dependsOn, c.startedAt, c.endedAt, c.outcome])).toEqual([
      ["a", [], 1_130, 1_230, "completed"],
      ["b", ["a"], 1_240, 1_300, "timeout"],
    ]);
  });

  it("shows a call's wait for approval and its decision, whatever the order, and a result from the cache", () => {
    const transfer = { requestId: "r2", tool: "transfer", round: 1 };
    const events: OrchestrateEvent[] = [
      {
        type: EventType.toolAwaitingApproval,
        ...transfer,
        callId: "big",
        at: 2_000,
        args: { amount: 500 },
        expiresAt: 9_000,
      },
      { type: EventType.toolAwaitingApproval, ...transfer, callId: "odd", at: 2_001, args: {}, expiresAt: 9_000 },
      {
        type: EventType.toolApprovalDecided,
        ...transfer,
        callId: "big",
        at: 2_500,
        decision: "approved",
        reason: "payroll",
        edited: true,
      },
      { type: EventType.toolScheduled, ...transfer, callId: "big", at: 2_510, args: { amount: 250 } },
      { type: EventType.toolApprovalDecided, ...transfer, callId: "odd", at: 2_600, decision: "denied", edited: false },
      { type: EventType.toolAwaitingApproval, ...transfer, callId: "open", at: 2_700, args: {}, expiresAt: 9_500 },
      { type: EventType.toolCompleted, ...transfer, callId: "hit", at: 2_800, durationMs: 0, result: 1, cached: true },
    ];
    const calls = (order: OrchestrateEvent[]) => {
      const views = new RequestViews();
      for (const event of order) views.apply(event);
      return Object.fromEntries(views.get("r2")!.calls.map((c) => [c.callId, c]));
    };
    const seen = calls(events);
    expect(seen.big).toMatchObject({
      args: { amount: 250 },
      approval: {
        requestedAt: 2_000,
        expiresAt: 9_000,
        decision: "approved",
        decidedAt: 2_500,
        reason: "payroll",
        edited: true,
      },
    });
    expect(seen.odd?.approval).toEqual({
      requestedAt: 2_001,
      expiresAt: 9_000,
      decision: "denied",
      decidedAt: 2_600,
      edited: false,
    });
    expect(seen.open?.approval).toEqual({ requestedAt: 2_700, expiresAt: 9_500 });
    expect(seen.hit?.cached).toBe(true);
    expect(seen.big?.cached).toBeUndefined();
    expect(calls([...events].reverse())).toEqual(seen);
  });

  it("gives the same view whatever the order, and counts a repeated event once", () => {
    const inOrder = new RequestViews();
    for (const event of PLAN) inOrder.apply(event);
    const shuffled = new RequestViews();
    for (const event of [...PLAN].reverse()) shuffled.apply(event);
    shuffled.apply(PLAN[2]!);
    const calls = (views: RequestViews) => views.get("r1")!.calls.sort((x, y) => x.callId.localeCompare(y.callId));
    expect(calls(shuffled)).toEqual(calls(inOrder));
    expect(shuffled.get("r1")!.inputTokens).toBe(30);
  });

  it("marks speculative calls as guesses, then hits or misses", () => {
    const views = new RequestViews();
    const guess = { requestId: "r2", tool: "add", round: 1, predictors: ["history"] };
    views.apply({ type: EventType.speculationStarted, ...guess, callId: "s1-0", at: 5, args: {}, confidence: 0.9 });
    views.apply({ type: EventType.speculationStarted, ...guess, callId: "s1-1", at: 5, args: {}, confidence: 0.4 });
    views.apply({
      type: EventType.speculationHit,
      ...guess,
      callId: "a",
      speculativeCallId: "s1-0",
      state: "finished",
      at: 9,
    });
    views.apply({ type: EventType.speculationMiss, ...guess, callId: "s1-1", wastedMs: 20, at: 25 });
    expect(views.get("r2")!.calls.map((c) => [c.callId, c.speculation])).toEqual([
      ["s1-0", "hit"],
      ["s1-1", "miss"],
    ]);
  });

  it("keeps a running call's latest progress, and names a tenant's request's tenant", () => {
    const views = new RequestViews();
    const progress = { type: EventType.toolProgress, requestId: "@acme.r3", tool: "t", round: 1, callId: "a" } as const;
    views.apply({ ...progress, at: 2, seq: 2, partial: { done: 50 } });
    views.apply({ ...progress, at: 1, seq: 1, partial: { done: 10 } });
    const view = views.get("@acme.r3")!;
    expect(view.tenant).toBe("acme");
    expect(view.calls[0]).toMatchObject({ progress: { done: 50 }, progressCount: 2 });
  });

  it("keeps at most its bound of requests, dropping the one idle longest", () => {
    const views = new RequestViews(2);
    for (const [id, at] of [
      ["old", 1],
      ["mid", 2],
      ["new", 3],
    ] as const)
      views.apply({ type: EventType.modelRequested, requestId: id, at, round: 1 });
    expect(views.list().map((v) => v.requestId)).toEqual(["new", "mid"]);
  });
});
