import { describe, expect, it } from "vitest";
import { callMatchKey, type PlannedCall, type RoundSubmit, type ToolCallRecord } from "@toolformer/protocol";
import { RoundState } from "./round-state.ts";
import { roundSubmit } from "./round-submit.fixture.ts";

function call(callId: string, tool = "t", extra: Partial<PlannedCall> = {}): PlannedCall {
  return { callId, tool, args: {}, toolInfo: { known: true, readOnly: true, idempotent: true }, ...extra };
}

const submit = (calls: PlannedCall[], over: Partial<RoundSubmit> = {}) => roundSubmit(calls, { deadline: 0, ...over });

function succeeded(id: string): ToolCallRecord {
  return { id, tool: "t", args: {}, status: "succeeded", round: 1, startedAt: 1, durationMs: 1, speculative: false };
}

const ids = (calls: { callId: string }[]) => calls.map((c) => c.callId);
const started = (state: RoundState) => state.advance().start.map((ready) => ready.call);
const ref = (target: string) => ({ $ref: target });
const withResult = (id: string, result: unknown): ToolCallRecord => ({ ...succeeded(id), result });

describe("RoundState", () => {
  it("starts everything at once under parallel, bounded by maxParallel", () => {
    const state = new RoundState(submit([call("a"), call("b"), call("c")], { maxParallel: 2 }));
    expect(ids(started(state))).toEqual(["a", "b"]);
    expect(started(state)).toEqual([]);
    state.complete(succeeded("a"));
    expect(ids(started(state))).toEqual(["c"]);
  });

  it("starts all of a turn's calls at once when the request sets no maxParallel", () => {
    const calls = Array.from({ length: 32 }, (_, i) => call(`c${i}`));
    const state = new RoundState(submit(calls));
    expect(ids(started(state))).toEqual(ids(calls));
  });

  it("runs one call at a time, in the model's order, under sequential", () => {
    const state = new RoundState(submit([call("a"), call("b")], { strategy: "sequential" }));
    expect(ids(started(state))).toEqual(["a"]);
    expect(started(state)).toEqual([]);
    state.complete(succeeded("a"));
    expect(ids(started(state))).toEqual(["b"]);
  });

  it("runs read-only calls in parallel and the others one by one in order under hybrid, idempotent or not", () => {
    const write = { toolInfo: { known: true, readOnly: false, idempotent: false } };
    // Idempotent, yet it changes something (an overwrite): it waits its turn like any write.
    const overwrite = { toolInfo: { known: true, readOnly: false, idempotent: true } };
    const state = new RoundState(
      submit([call("w1", "write", write), call("r1"), call("w2", "put", overwrite), call("r2")], {
        strategy: "hybrid",
      }),
    );
    expect(ids(started(state))).toEqual(["w1", "r1", "r2"]);
    state.complete(succeeded("r1"));
    expect(started(state)).toEqual([]);
    state.complete(succeeded("w1"));
    expect(ids(started(state))).toEqual(["w2"]);
  });

  it("fails unknown tools and unreadable arguments without running them", () => {
    const state = new RoundState(
      submit([
        call("a"),
        call("x", "nope", { toolInfo: { known: false, readOnly: false, idempotent: false } }),
        call("y", "t", { argsError: "bad json" }),
      ]),
    );
    expect(state.refused.map((r) => [r.id, r.error?.code])).toEqual([
      ["x", "UNKNOWN_TOOL"],
      ["y", "INVALID_ARGUMENTS"],
    ]);
    expect(ids(started(state))).toEqual(["a"]);
    state.complete(succeeded("a"));
    expect(state.done).toBe(true);
    expect(state.records().map((r) => r.id)).toEqual(["a", "x", "y"]);
  });

  it("drops queued calls on cancel and ignores results it does not wait for", () => {
    const state = new RoundState(submit([call("a"), call("b")], { maxParallel: 1 }));
    started(state);
    expect(state.dropPending("cancelled", "cancelled").map((r) => [r.id, r.status, r.startedAt])).toEqual([
      ["b", "cancelled", null],
    ]);
    expect(started(state)).toEqual([]);
    expect(state.complete(succeeded("b"))).toBeUndefined();
    expect(state.complete(succeeded("a"))).toBeDefined();
    expect(state.done).toBe(true);
  });

  it("grows while open, refuses bad calls as they come, and is done only once sealed", () => {
    const state = new RoundState(submit([call("a")], { open: true }));
    expect(ids(started(state))).toEqual(["a"]);
    state.complete(succeeded("a"));
    expect(state.done).toBe(false); // more may come
    expect(
      state
        .add([call("b"), call("x", "nope", { toolInfo: { known: false, readOnly: false, idempotent: false } })])
        .map((r) => r.id),
    ).toEqual(["x"]);
    expect(state.add([call("b")])).toEqual([]); // a redelivered add changes nothing
    expect(ids(started(state))).toEqual(["b"]);
    state.complete(succeeded("b"));
    state.seal(3);
    expect(state.done).toBe(true);
    expect(state.records().map((r) => r.id)).toEqual(["a", "b", "x"]);
  });
});

describe("RoundState with references between calls", () => {
  it("runs a diamond: A, then B and C together, then D with both results in place", () => {
    const state = new RoundState(
      submit([
        call("A"),
        call("B", "t", { args: { x: ref("A#/n") } }),
        call("C", "t", { args: { x: ref("A") } }),
        call("D", "t", { args: { left: ref("B"), right: ref("C#/v") } }),
      ]),
    );
    expect(ids(started(state))).toEqual(["A"]);
    state.complete(withResult("A", { n: 7 }));
    const middle = state.advance().start;
    expect(middle.map((r) => [r.call.callId, r.args])).toEqual([
      ["B", { x: 7 }],
      ["C", { x: { n: 7 } }],
    ]);
    state.complete(withResult("B", "b"));
    expect(started(state)).toEqual([]);
    state.complete(withResult("C", { v: [1] }));
    expect(state.advance().start.map((r) => r.args)).toEqual([{ left: "b", right: [1] }]);
  });

  it("fails every dependent, transitively, of a call that did not succeed, without running them", () => {
    const state = new RoundState(
      submit([call("A"), call("B", "t", { args: ref("A") }), call("C", "t", { args: ref("B") }), call("X")]),
    );
    expect(ids(started(state))).toEqual(["A", "X"]);
    state.complete({ ...succeeded("A"), status: "timeout", error: { code: "TIMEOUT", message: "slow" } });
    const { start, failed } = state.advance();
    expect(start).toEqual([]);
    expect(failed.map((r) => [r.id, r.status, r.error?.code, r.startedAt])).toEqual([
      ["B", "failed", "DEPENDENCY_FAILED", null],
      ["C", "failed", "DEPENDENCY_FAILED", null],
    ]);
    expect(failed[0]!.error!.message).toContain("A, which ended timeout (TIMEOUT)");
  });

  it("fails a call whose pointer finds nothing in the result, and its dependents", () => {
    const state = new RoundState(
      submit([call("A"), call("B", "t", { args: ref("A#/missing") }), call("C", "t", { args: ref("B") })]),
    );
    started(state);
    state.complete(withResult("A", { n: 1 }));
    const { start, failed } = state.advance();
    expect(start).toEqual([]);
    expect(failed.map((r) => [r.id, r.error?.code])).toEqual([
      ["B", "INVALID_ARGUMENTS"],
      ["C", "DEPENDENCY_FAILED"],
    ]);
  });

  it("refuses a plan with a cycle or a dangling reference before anything runs, naming the calls", () => {
    const cyclic = new RoundState(
      submit([call("free"), call("a", "t", { args: ref("b") }), call("b", "t", { args: { deep: [ref("a#/x")] } })]),
    );
    const outcome = cyclic.advance();
    expect(outcome.start).toEqual([]);
    expect(outcome.failed.map((r) => r.id)).toEqual(["free", "a", "b"]);
    expect(cyclic.rejection).toMatchObject({ code: "CYCLE_DETECTED", details: { cycles: [["a", "b", "a"]] } });
    expect(cyclic.rejection!.message).toContain("a -> b -> a");
    expect(cyclic.done).toBe(true);

    const dangling = new RoundState(submit([call("a"), call("b", "t", { args: ref("ghost") })]));
    expect(started(dangling)).toEqual([]);
    expect(dangling.rejection).toMatchObject({ code: "INVALID_REQUEST" });
    expect(dangling.rejection!.message).toContain("b -> ghost");
  });

  it("in an open round, waits for a named call the model has not written yet", () => {
    const state = new RoundState(submit([call("late-user", "t", { args: ref("early") })], { open: true }));
    expect(started(state)).toEqual([]);
    state.add([call("early")]);
    expect(ids(started(state))).toEqual(["early"]);
    state.seal(2);
    state.complete(succeeded("early"));
    expect(ids(started(state))).toEqual(["late-user"]);
  });

  it("under sequential, keeps the model's order except that a call goes after what it names", () => {
    const state = new RoundState(
      submit([call("first", "t", { args: ref("second") }), call("second"), call("third")], { strategy: "sequential" }),
    );
    const order: string[] = [];
    for (let step = 0; step < 3; step++) {
      const [next] = started(state);
      order.push(next!.callId);
      state.complete(succeeded(next!.callId));
    }
    expect(order).toEqual(["second", "first", "third"]);
  });
});

describe("RoundState races", () => {
  it("the first success of a group cancels its running calls, drops its queued ones and refuses late ones", () => {
    const state = new RoundState(
      submit([call("a", "search"), call("b", "lookup"), call("c", "search"), call("x", "other")], {
        maxParallel: 3,
        open: true,
        race: { answer: ["search", "lookup"] },
      }),
    );
    expect(ids(started(state))).toEqual(["a", "b", "c"]);
    state.complete({ ...succeeded("b"), tool: "lookup" });
    const { start, failed, cancel } = state.advance();
    expect(ids(cancel)).toEqual(["a", "c"]);
    // "x" is not in the group: it takes the winner's place.
    expect(start.map((ready) => ready.call.callId)).toEqual(["x"]);
    expect(failed).toEqual([]);
    const [late] = state.add([call("d", "search")]);
    expect(late).toMatchObject({ id: "d", status: "cancelled", startedAt: null });
    expect(late!.error!.message).toContain("b (answer)");
  });

  it("a failed call does not win", () => {
    const state = new RoundState(submit([call("a", "search"), call("b", "search")], { race: { g: ["search"] } }));
    started(state);
    state.complete({ ...succeeded("a"), status: "failed" });
    expect(state.advance().cancel).toEqual([]);
  });

  it("a call served by a speculative call takes its result, marked speculative, and waits for it by its id", () => {
    const state = new RoundState(submit([call("a", "t", { args: { q: 1 } }), call("b")]));
    started(state);
    state.adopt("a", "s1-x", { q: 1 });
    expect(state.awaitedResultIds).toEqual(["s1-x", "b"]);
    expect(state.resultIdOf("a")).toBe("s1-x");
    expect(state.complete(succeeded("a"))).toBeUndefined(); // only the speculative call's result counts
    const record = state.complete({ ...withResult("s1-x", 42), args: { q: 1 } });
    expect(record).toMatchObject({ id: "a", result: 42, speculative: true, args: { q: 1 } });
    expect(state.records().map((r) => r.id)).toEqual(["a"]);
  });

  it("knows which speculative calls a call not started yet may still take over", () => {
    const state = new RoundState(
      submit([call("a", "search", { args: { q: "x" } }), call("b", "fetch", { args: { url: ref("a#/url") } })], {
        maxParallel: 1,
        race: {},
      }),
    );
    started(state); // "a" runs; "b" waits for its result
    expect(state.mayStillClaim("fetch", "any key")).toBe(true); // its arguments are not known yet
    expect(state.mayStillClaim("search", "any key")).toBe(false); // the only search has started
  });

  it("a waiting call with known arguments may take over only the speculative call that matches them", () => {
    const state = new RoundState(
      submit([call("a", "search", { args: { q: "x" } }), call("c", "search", { args: { q: "y" } })], {
        maxParallel: 1,
      }),
    );
    started(state);
    expect(state.mayStillClaim("search", callMatchKey("search", { q: "y" }))).toBe(true);
    expect(state.mayStillClaim("search", callMatchKey("search", { q: "z" }))).toBe(false);
  });

  it("a waiting call that is not read-only takes over no speculative call, even an idempotent one", () => {
    const overwrite = { toolInfo: { known: true, readOnly: false, idempotent: true } };
    const state = new RoundState(
      submit([call("a", "search"), call("w", "put", { ...overwrite, args: { path: "x" } })], { maxParallel: 1 }),
    );
    started(state);
    expect(state.mayStillClaim("put", callMatchKey("put", { path: "x" }))).toBe(false);
  });
});
