import { describe, expect, it } from "vitest";
import type { PlannedCall, RoundSubmit, ToolCallRecord } from "@toolformer/protocol";
import { RoundState } from "./round-state.ts";

function call(callId: string, tool = "t", extra: Partial<PlannedCall> = {}): PlannedCall {
  return { callId, tool, args: {}, toolInfo: { known: true, idempotent: true }, ...extra };
}

function submit(calls: PlannedCall[], over: Partial<RoundSubmit> = {}): RoundSubmit {
  return {
    requestId: "r",
    deadline: 0,
    traceparent: "",
    attempt: 1,
    round: 1,
    priority: 5,
    tenant: "default",
    maxParallel: 16,
    strategy: "parallel",
    open: false,
    calls,
    ...over,
  };
}

function succeeded(id: string): ToolCallRecord {
  return { id, tool: "t", args: {}, status: "succeeded", round: 1, startedAt: 1, durationMs: 1, speculative: false };
}

const ids = (calls: { callId: string }[]) => calls.map((c) => c.callId);

describe("RoundState", () => {
  it("starts everything at once under parallel, bounded by maxParallel", () => {
    const state = new RoundState(submit([call("a"), call("b"), call("c")], { maxParallel: 2 }));
    expect(ids(state.takeReady())).toEqual(["a", "b"]);
    expect(state.takeReady()).toEqual([]);
    state.complete(succeeded("a"));
    expect(ids(state.takeReady())).toEqual(["c"]);
  });

  it("runs one call at a time, in the model's order, under sequential", () => {
    const state = new RoundState(submit([call("a"), call("b")], { strategy: "sequential" }));
    expect(ids(state.takeReady())).toEqual(["a"]);
    expect(state.takeReady()).toEqual([]);
    state.complete(succeeded("a"));
    expect(ids(state.takeReady())).toEqual(["b"]);
  });

  it("runs idempotent calls in parallel and side-effecting ones one by one in order under hybrid", () => {
    const write = { toolInfo: { known: true, idempotent: false } };
    const state = new RoundState(
      submit([call("w1", "write", write), call("r1"), call("w2", "write", write), call("r2")], { strategy: "hybrid" }),
    );
    expect(ids(state.takeReady())).toEqual(["w1", "r1", "r2"]);
    state.complete(succeeded("r1"));
    expect(state.takeReady()).toEqual([]);
    state.complete(succeeded("w1"));
    expect(ids(state.takeReady())).toEqual(["w2"]);
  });

  it("fails unknown tools and unreadable arguments without running them", () => {
    const state = new RoundState(
      submit([
        call("a"),
        call("x", "nope", { toolInfo: { known: false, idempotent: false } }),
        call("y", "t", { argsError: "bad json" }),
      ]),
    );
    expect(state.refused.map((r) => [r.id, r.error?.code])).toEqual([
      ["x", "UNKNOWN_TOOL"],
      ["y", "INVALID_ARGUMENTS"],
    ]);
    expect(ids(state.takeReady())).toEqual(["a"]);
    state.complete(succeeded("a"));
    expect(state.done).toBe(true);
    expect(state.records().map((r) => r.id)).toEqual(["a", "x", "y"]);
  });

  it("drops queued calls on cancel and ignores results it does not wait for", () => {
    const state = new RoundState(submit([call("a"), call("b")], { maxParallel: 1 }));
    state.takeReady();
    expect(state.dropPending("cancelled", "cancelled").map((r) => [r.id, r.status, r.startedAt])).toEqual([
      ["b", "cancelled", null],
    ]);
    expect(state.takeReady()).toEqual([]);
    expect(state.complete(succeeded("b"))).toBe(false);
    expect(state.complete(succeeded("a"))).toBe(true);
    expect(state.done).toBe(true);
  });

  it("grows while open, refuses bad calls as they come, and is done only once sealed", () => {
    const state = new RoundState(submit([call("a")], { open: true }));
    expect(ids(state.takeReady())).toEqual(["a"]);
    state.complete(succeeded("a"));
    expect(state.done).toBe(false); // more may come
    expect(
      state.add([call("b"), call("x", "nope", { toolInfo: { known: false, idempotent: false } })]).map((r) => r.id),
    ).toEqual(["x"]);
    expect(state.add([call("b")])).toEqual([]); // a redelivered add changes nothing
    expect(ids(state.takeReady())).toEqual(["b"]);
    state.complete(succeeded("b"));
    state.seal(3);
    expect(state.done).toBe(true);
    expect(state.records().map((r) => r.id)).toEqual(["a", "b", "x"]);
  });
});
