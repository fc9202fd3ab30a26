import { describe, expect, it } from "vitest";
import type { PlannedCall, RoundSubmit, ToolCallRecord } from "@toolformer/protocol";
import type { TimerCommand } from "@toolformer/runtime";
import {
  ABORT_GRACE_MS,
  ABORT_GRACE_TIMER,
  DEADLINE_TIMER,
  initialRoundState,
  RECONCILE_INTERVAL_MS,
  RECONCILE_TIMER,
  roundEnd,
  roundLoop,
  type RoundCommand,
  type RoundEvent,
  type RoundLoopState,
} from "./round-loop.ts";
import { roundSubmit } from "./round-submit.fixture.ts";

const DEADLINE = 1_000_000;
const write = { toolInfo: { known: true, readOnly: false, idempotent: false } };

function call(callId: string, tool = "t", extra: Partial<PlannedCall> = {}): PlannedCall {
  return { callId, tool, args: {}, toolInfo: { known: true, readOnly: true, idempotent: true }, ...extra };
}

const submit = roundSubmit;

const record = (id: string, result: unknown = id, status: ToolCallRecord["status"] = "succeeded"): ToolCallRecord => ({
  id,
  tool: "t",
  args: {},
  status,
  result,
  round: 1,
  startedAt: 1,
  durationMs: 1,
  speculative: false,
});

type Fed = RoundEvent | { type: "timer"; name: string };

/** Feeds events in order, each at its own `now`, collecting every command. */
function run(state: RoundLoopState, events: [number, Fed][]) {
  const commands: (RoundCommand | TimerCommand)[] = [];
  for (const [now, event] of events) {
    const next = roundLoop.step(state, event, now);
    state = next.state;
    commands.push(...next.commands);
  }
  const dispatched = commands.flatMap((c) => (c.kind === "dispatch" ? [c.call.call.callId] : []));
  return { state, commands, kinds: commands.map((c) => c.kind), dispatched };
}

const start = (s: RoundSubmit, takeover = false) => run(initialRoundState(s), [[0, { type: "started", takeover }]]);
const arrived = (id: string, result?: unknown): RoundEvent => ({
  type: "resultsArrived",
  records: [record(id, result)],
});
const timer = (name: string): Fed => ({ type: "timer", name });
const published = (commands: (RoundCommand | TimerCommand)[]) =>
  commands.find((c): c is Extract<RoundCommand, { kind: "publishDone" }> => c.kind === "publishDone");

describe("the round loop machine", () => {
  it("hands calls out under their dependencies and the strategy, and passes results on as arguments", () => {
    const fetch = call("fetch", "t", { args: { q: 1 } });
    const summarize = call("summarize", "t", { args: { text: { $ref: "fetch" } } });
    const post = call("post", "write", write);
    const first = start(submit([summarize, post, fetch], { strategy: "hybrid" }));
    // The read-only call that waits for nothing, and the first call with side effects.
    expect(first.dispatched).toEqual(["post", "fetch"]);
    expect(first.commands.slice(0, 2)).toEqual([
      { kind: "setTimer", name: DEADLINE_TIMER, at: DEADLINE },
      { kind: "setTimer", name: RECONCILE_TIMER, at: RECONCILE_INTERVAL_MS },
    ]);

    const next = run(first.state, [[10, arrived("fetch", "the page")]]);
    expect(next.dispatched).toEqual(["summarize"]);
    const dispatch = next.commands.find((c) => c.kind === "dispatch");
    expect(dispatch && "call" in dispatch && dispatch.call.args).toEqual({ text: "the page" });
  });

  it("runs one call at a time under sequential, and fails a call whose dependency failed without running it", () => {
    const first = start(
      submit([call("a"), call("b", "t", { args: { x: { $ref: "a" } } }), call("c")], { strategy: "sequential" }),
    );
    expect(first.dispatched).toEqual(["a"]);
    const failed = run(first.state, [[5, { type: "resultsArrived", records: [record("a", undefined, "failed")] }]]);
    expect(failed.commands[0]).toMatchObject({
      kind: "announce",
      essential: true,
      records: [{ id: "b", status: "failed", error: { code: "DEPENDENCY_FAILED" } }],
    });
    expect(failed.dispatched).toEqual(["c"]);
  });

  it("publishes the round's records once every call is in, and only then", () => {
    const { state } = start(submit([call("a"), call("b")]));
    const one = run(state, [[10, arrived("a")]]);
    expect(published(one.commands)).toBeUndefined();
    expect(run(one.state, [[11, arrived("a")]]).kinds).toEqual([]); // a duplicate changes nothing

    const all = run(one.state, [[20, arrived("b")]]);
    expect(published(all.commands)?.records.map((r) => [r.id, r.status])).toEqual([
      ["a", "succeeded"],
      ["b", "succeeded"],
    ]);
    expect(all.commands.filter((c) => c.kind === "clearTimer").map((c) => "name" in c && c.name)).toEqual([
      DEADLINE_TIMER,
      ABORT_GRACE_TIMER,
      RECONCILE_TIMER,
    ]);
    expect(roundEnd(all.state)).toBeUndefined(); // not over until the records are stored
    expect(roundEnd(run(all.state, [[30, { type: "donePublished" }]]).state)).toEqual({ kind: "published" });
  });

  it("takes results that came together in one step, and hands out what they free once", () => {
    const [a, b] = [call("a"), call("b")];
    const after = call("after", "t", { args: { x: { $ref: "a" }, y: { $ref: "b" } } });
    const first = start(submit([a, b, after]));
    expect(first.dispatched).toEqual(["a", "b"]);
    const both = run(first.state, [[10, { type: "resultsArrived", records: [record("a"), record("b")] }]]);
    expect(both.dispatched).toEqual(["after"]);
    const last = run(both.state, [[20, arrived("after")]]);
    expect(published(last.commands)?.records.map((r) => r.id)).toEqual(["a", "b", "after"]);
  });

  it("does not change the state it is given (a step works on a copy)", () => {
    const { state } = start(submit([call("a"), call("b")]));
    run(state, [[10, arrived("a")]]);
    expect(published(run(state, [[20, arrived("b")]]).commands)).toBeUndefined();
  });

  it("on a cancel drops the calls not started, and writes the running ones off after the grace period", () => {
    const { state } = start(submit([call("a"), call("b"), call("c")], { maxParallel: 2 }));
    const cancelled = run(state, [[1_000, { type: "cancelled", reason: "client" }]]);
    expect(cancelled.commands).toEqual([
      {
        kind: "announce",
        essential: true,
        records: [expect.objectContaining({ id: "c", status: "cancelled", startedAt: null })],
      },
      { kind: "setTimer", name: ABORT_GRACE_TIMER, at: 1_000 + ABORT_GRACE_MS },
    ]);
    // One running call confirms in time; nothing else starts.
    const confirmed = run(cancelled.state, [[1_200, arrived("a")]]);
    expect(confirmed.kinds).toEqual([]);
    const ended = run(confirmed.state, [[1_000 + ABORT_GRACE_MS, timer(ABORT_GRACE_TIMER)]]);
    expect(published(ended.commands)?.records).toMatchObject([
      { id: "a", status: "succeeded" },
      {
        id: "b",
        status: "cancelled",
        error: { code: "CANCELLED", message: expect.stringContaining("did not confirm") },
      },
      { id: "c", status: "cancelled" },
    ]);
  });

  it("ends at once after a cancel when nothing runs any more", () => {
    const { state } = start(submit([call("a"), call("b")], { maxParallel: 1 }));
    const cancelled = run(state, [
      [100, { type: "cancelled", reason: "client" }],
      [200, arrived("a")],
    ]);
    expect(published(cancelled.commands)?.records.map((r) => r.status)).toEqual(["succeeded", "cancelled"]);
  });

  it("at the deadline ends the round as timed out", () => {
    const { state } = start(submit([call("a"), call("b")], { maxParallel: 1 }));
    const { state: late, commands } = run(state, [[DEADLINE, timer(DEADLINE_TIMER)]]);
    expect(commands[0]).toMatchObject({ kind: "announce", records: [{ id: "b", status: "timeout" }] });
    const ended = run(late, [[DEADLINE + ABORT_GRACE_MS, timer(ABORT_GRACE_TIMER)]]);
    expect(published(ended.commands)?.records).toMatchObject([
      { id: "a", status: "timeout", error: { code: "TIMEOUT" } },
      { id: "b", status: "timeout" },
    ]);
    // A client's cancel after the deadline changes nothing.
    expect(run(late, [[DEADLINE + 1, { type: "cancelled", reason: "client" }]]).kinds).toEqual([]);
  });

  it("every reconcile tick looks up the stored results of calls in flight, one look-up at a time", () => {
    const { state } = start(submit([call("a"), call("b")]));
    const tick = run(state, [[RECONCILE_INTERVAL_MS, timer(RECONCILE_TIMER)]]);
    expect(tick.commands).toEqual([
      { kind: "setTimer", name: RECONCILE_TIMER, at: 2 * RECONCILE_INTERVAL_MS },
      { kind: "lookUp", resultIds: ["a", "b"], reconcile: true },
    ]);
    // The look-up is still under way at the next tick: no second one.
    expect(run(tick.state, [[2 * RECONCILE_INTERVAL_MS, timer(RECONCILE_TIMER)]]).kinds).toEqual(["setTimer"]);
    const found = run(tick.state, [
      [3_100, arrived("a")],
      [3_200, { type: "lookedUp", reconcile: true }],
      [2 * RECONCILE_INTERVAL_MS, timer(RECONCILE_TIMER)],
    ]);
    expect(found.commands.at(-1)).toEqual({ kind: "lookUp", resultIds: ["b"], reconcile: true });
  });

  it("when its copy stops hands the round back at once, but finishes a round already ending after a cancel", () => {
    const { state } = start(submit([call("a")]));
    const stopped = run(state, [[10, { type: "stopping" }]]);
    expect(stopped.kinds).toContain("handBack");
    expect(published(stopped.commands)).toBeUndefined();
    // Nothing more goes out while the publishes before the hand-back finish.
    expect(run(stopped.state, [[20, arrived("a")]]).kinds).toEqual([]);
    expect(roundEnd(run(stopped.state, [[30, { type: "handedBack" }]]).state)).toEqual({ kind: "handedBack" });

    const ending = run(state, [
      [10, { type: "cancelled", reason: "client" }],
      [20, { type: "stopping" }],
    ]);
    expect(ending.kinds).not.toContain("handBack");
    const finished = run(ending.state, [[30, arrived("a")]]);
    expect(published(finished.commands)?.records).toMatchObject([{ id: "a", status: "succeeded" }]);
  });

  it("a round taken over reads back what its calls did before handing any out", () => {
    const first = start(submit([call("a"), call("b"), call("c")]), true);
    expect(first.dispatched).toEqual([]);
    const resume = first.commands.find((c) => c.kind === "resume");
    expect(resume && "calls" in resume && resume.calls.map((r) => r.call.callId)).toEqual(["a", "b", "c"]);
    // A result arriving meanwhile is kept, but nothing more is handed out until the reading is answered.
    const meanwhile = run(first.state, [[5, arrived("a")]]);
    expect(meanwhile.kinds).toEqual([]);

    const fresh = resume && "calls" in resume ? resume.calls.filter((r) => r.call.callId === "c") : [];
    const resumed = run(meanwhile.state, [[10, { type: "resumed", fresh, adopted: [], finished: [record("b")] }]]);
    expect(resumed.dispatched).toEqual(["c"]); // a and b were handed out before: never again
    const done = run(resumed.state, [[20, arrived("c")]]);
    expect(published(done.commands)?.records.map((r) => r.id)).toEqual(["a", "b", "c"]);
  });

  it("lets read-only calls take over speculative calls, and closes speculation once the round is sealed", () => {
    // `w` is idempotent, but not read-only: it is never served by a guess.
    const overwrite = { toolInfo: { known: true, readOnly: false, idempotent: true } };
    const s = submit([call("a"), call("w", "write", overwrite)], { speculation: true, open: true });
    const first = start(s);
    // The call with side effects goes out only once the claim for the batch is answered, in the model's order.
    expect(first.commands.find((c) => c.kind === "claimSpeculative")).toMatchObject({
      calls: [{ call: { callId: "a" } }],
    });
    expect(first.dispatched).toEqual([]);
    const claimed = run(first.state, [
      [10, { type: "claimsAnswered", taken: [{ callId: "a", speculativeCallId: "s-a", args: {} }] }],
    ]);
    expect(claimed.dispatched).toEqual(["w"]);
    expect(claimed.commands).toContainEqual({ kind: "lookUp", resultIds: ["s-a"], reconcile: false });
    expect(claimed.kinds).not.toContain("closeSpeculation"); // calls may still be added

    const sealed = run(claimed.state, [[20, { type: "callsAdded", calls: [], sealTotal: 2 }]]);
    expect(sealed.kinds).toEqual(["closeSpeculation"]);
    // The speculative call's result is the model's call's, announced by the scheduler.
    const served = run(sealed.state, [[30, arrived("s-a")]]);
    expect(served.commands).toEqual([
      { kind: "announce", essential: false, records: [expect.objectContaining({ id: "a", speculative: true })] },
    ]);
    const done = run(served.state, [[40, arrived("w")]]);
    expect(done.kinds.slice(-2)).toEqual(["closeSpeculation", "publishDone"]);
  });

  it("cancels running calls that lost their race", () => {
    const s = submit([call("a", "search"), call("b", "lookup")], { race: { answer: ["search", "lookup"] } });
    const { state } = start(s);
    const won = run(state, [[10, arrived("a")]]);
    expect(won.commands).toContainEqual({ kind: "cancelCall", callId: "b", tool: "lookup" });
  });

  it("ends the run when a publish the round relies on fails for good, not when a look-up does", () => {
    const { state } = start(submit([call("a")]));
    const error = new Error("no leader");
    const lookUp: RoundCommand = { kind: "lookUp", resultIds: ["a"], reconcile: true };
    expect(roundEnd(run(state, [[10, { type: "effectFailed", command: lookUp, error }]]).state)).toBeUndefined();
    const dispatch = start(submit([call("a")])).commands.find((c) => c.kind === "dispatch") as RoundCommand;
    const failed = run(state, [[10, { type: "effectFailed", command: dispatch, error }]]).state;
    expect(roundEnd(failed)).toEqual({ kind: "failed", error });
  });
});
