import { describe, expect, it } from "vitest";
import { CancelReason, ErrorCode, TerminalError, type ExecCall, type ToolCallRecord } from "@toolformer/protocol";
import type { TimerCommand } from "@toolformer/runtime";
import { execCall } from "@toolformer/testing";
import { NotStartedError } from "./abort-reasons.ts";
import {
  callEnd,
  CLAIM_RENEW_TIMER,
  callFlow,
  HOLDER_POLL_MS,
  HOLDER_POLL_TIMER,
  DEADLINE_TIMER,
  initialCallState,
  PLACES_RENEW_TIMER,
  RETRY_TIMER,
  TOOL_TIMEOUT_TIMER,
  type CallCommand,
  type CallEvent,
  type CallFlowState,
  type HostedTool,
} from "./call-flow.ts";
import { IDEMPOTENT_ATTEMPTS } from "./retries.ts";
import { CLAIM_RENEW_MS } from "./call-claims.ts";
import { ToolRateLimitedError } from "./tool-rate-limited.ts";

const DEADLINE = 100_000;
const idempotent: HostedTool = { idempotent: true, timeoutMs: 5_000 };
const sideEffects: HostedTool = { idempotent: false };
const cached: HostedTool = { readOnly: true, idempotent: true, cache: { ttlMs: 60_000, version: "" } };

const call = (over: Partial<ExecCall> = {}): ExecCall => execCall({ deadline: DEADLINE, ...over });

type Fed = CallEvent | { type: "timer"; name: string };
const noReply = { resolve: () => {}, reject: () => {} };

const isClaimBookkeeping = (c: CallCommand | TimerCommand) =>
  c.kind === "claim" || ((c.kind === "setTimer" || c.kind === "clearTimer") && c.name === CLAIM_RENEW_TIMER);

/**
 * Feeds events in order, each at its own `now` (the moved clock), collecting every command. Unless
 * `claims` is "manual", a call's claim is granted as soon as it is asked for, and the claim's own
 * commands are left out of `kinds` and `timers` (the claim tests below look at them).
 */
function run(
  events: [number, Fed][],
  state: CallFlowState = initialCallState(call(), { deliveryCount: 1, redelivered: false }, "x1"),
  claims: "auto" | "manual" = "auto",
) {
  const commands: (CallCommand | TimerCommand)[] = [];
  const feed = (now: number, event: Fed) => {
    const next = callFlow.step(state, event, now);
    state = next.state;
    commands.push(...next.commands);
    if (claims === "auto" && next.commands.some((c) => c.kind === "claim")) feed(now, { type: "claimed" });
  };
  for (const [now, event] of events) feed(now, event);
  const shown = claims === "auto" ? commands.filter((c) => !isClaimBookkeeping(c)) : commands;
  const kinds = shown.filter((c) => c.kind !== "log").map((c) => c.kind);
  const record = commands.find((c): c is Extract<CallCommand, { kind: "publishResult" }> => c.kind === "publishResult")
    ?.record as ToolCallRecord | undefined;
  const attempts = commands.flatMap((c) => (c.kind === "startTool" ? [c.attempt] : []));
  const timers = shown.flatMap((c) => (c.kind === "setTimer" ? [[c.name, c.at] as const] : []));
  return { state, commands, kinds, record, attempts, timers, end: callEnd(state) };
}

const delivered = (tool: HostedTool | undefined = sideEffects): Fed => ({ type: "delivered", tool });
const granted: Fed = { type: "permitGranted", waitedFor: [] };
const refused = (error: unknown = new Error("aborted")): Fed => ({ type: "permitRefused", error });
const succeeded = (attempt = 1, value: unknown = "ok"): Fed => ({ type: "toolSucceeded", attempt, value });
const failed = (attempt = 1, error: unknown = new Error("flaky"), jitter = 0): Fed => ({
  type: "toolFailed",
  attempt,
  error,
  jitter,
});
const cancelled = (reason: CancelReason = CancelReason.client, of: "request" | "call" = "request"): Fed => ({
  type: "cancelled",
  reason,
  of,
});
const timer = (name: string): Fed => ({ type: "timer", name });
const stopping: Fed = { type: "stopping" };

/** Up to the tool running: delivered at 0, permit (and the tool's start) at 10. */
const started = (tool: HostedTool = sideEffects): [number, Fed][] => [
  [0, delivered(tool)],
  [10, granted],
];
const closing: [number, Fed][] = [
  [0, { type: "resultPublished" }],
  [0, { type: "released" }],
];

describe("the call flow machine", () => {
  it("runs a call: permit, tool.started, the tool, its record, then gives its places back and acks", () => {
    const { kinds, record, timers, end, commands } = run([...started(idempotent), [60, succeeded()], ...closing]);
    expect(kinds).toEqual([
      "setTimer",
      "acquirePermit",
      "publishStarted",
      "setTimer",
      "startTool",
      ...["clearTimer", "clearTimer", "clearTimer"],
      "publishResult",
      "release",
    ]);
    expect(timers).toEqual([
      [DEADLINE_TIMER, DEADLINE],
      [TOOL_TIMEOUT_TIMER, 10 + 5_000],
    ]);
    const started_ = commands.find((c) => c.kind === "publishStarted");
    expect(started_).toMatchObject({ event: { type: "tool.started", callId: "c1", attempt: 1, executor: "x1" } });
    expect(started_).not.toHaveProperty("event.waitedFor");
    expect(record).toMatchObject({ id: "c1", status: "succeeded", result: "ok", startedAt: 10, durationMs: 50 });
    expect(end).toEqual({ kind: "recorded", outcome: { kind: "succeeded", result: "ok" } });
  });

  it("says in tool.started which limits the call waited for", () => {
    const waitedFor = ["concurrency:config:tenant-calls:acme"];
    const { commands } = run([
      [0, delivered()],
      [10, { type: "permitGranted", waitedFor }],
    ]);
    expect(commands.find((c) => c.kind === "publishStarted")).toMatchObject({
      event: { type: "tool.started", waitedFor },
    });
  });

  it("tries an idempotent tool again after a passing failure, after a growing pause", () => {
    const { attempts, timers, record } = run([
      ...started(idempotent),
      [50, failed(1, new Error("flaky"), 0.5)],
      [150, timer(RETRY_TIMER)],
      [160, failed(2, new Error("flaky"), 1)],
      [560, timer(RETRY_TIMER)],
      [570, succeeded(3)],
    ]);
    expect(attempts).toEqual([1, 2, 3]);
    // The jitter's share of 200 ms before the second try, of 400 ms before the third.
    expect(timers.filter(([name]) => name === RETRY_TIMER)).toEqual([
      [RETRY_TIMER, 50 + 100],
      [RETRY_TIMER, 160 + 400],
    ]);
    expect(record).toMatchObject({ status: "succeeded", durationMs: 560 });
  });

  it("tries a tool with side effects once, and an idempotent one never after a terminal error or its last try", () => {
    const once = run([...started(sideEffects), [50, failed(1, new Error("boom"))]]);
    expect(once.attempts).toEqual([1]);
    expect(once.record).toMatchObject({ status: "failed", error: { code: ErrorCode.TOOL_FAILED, message: "boom" } });

    const terminal = run([
      ...started(idempotent),
      [50, failed(1, new TerminalError(ErrorCode.INVALID_ARGUMENTS, "bad"))],
    ]);
    expect(terminal.attempts).toEqual([1]);
    expect(terminal.record).toMatchObject({ status: "failed", error: { code: ErrorCode.INVALID_ARGUMENTS } });

    const events: [number, Fed][] = [...started(idempotent)];
    for (let attempt = 1; attempt <= IDEMPOTENT_ATTEMPTS; attempt++)
      events.push([attempt * 1_000, failed(attempt)], [attempt * 1_000 + 500, timer(RETRY_TIMER)]);
    const hopeless = run(events);
    expect(hopeless.attempts).toEqual([1, 2, 3].slice(0, IDEMPOTENT_ATTEMPTS));
    expect(hopeless.record).toMatchObject({ status: "failed" });
  });

  it("starts the tool with its permit, not once its tool.started is stored", () => {
    // Storing the event can take seconds while the events stream elects a leader after a node died;
    // a call run that late can fall in a later window of the rate limit than the one that admitted it.
    const { kinds, timers, attempts } = run([
      [0, delivered(idempotent)],
      [10, granted],
    ]);
    expect(kinds.slice(-3)).toEqual(["publishStarted", "setTimer", "startTool"]);
    expect(attempts).toEqual([1]);
    expect(timers).toEqual([
      [DEADLINE_TIMER, DEADLINE],
      [TOOL_TIMEOUT_TIMER, 10 + 5_000],
    ]);
  });

  it("times a running tool out at its timeout, and a waiting call out at the deadline", () => {
    const slow = run([...started(idempotent), [5_010, timer(TOOL_TIMEOUT_TIMER)]]);
    expect(slow.commands).toContainEqual({ kind: "abort", cause: { kind: "timeout" } });
    expect(slow.record).toBeUndefined(); // the tool is heard out first
    const ended = run([[5_020, failed(1, new Error("aborted"))], ...closing], slow.state);
    expect(ended.attempts).toEqual([]); // an aborted call is not tried again
    expect(ended.record).toMatchObject({ status: "timeout", error: { code: ErrorCode.TIMEOUT }, durationMs: 5_010 });
    expect(ended.end?.kind).toBe("recorded");

    const waiting = run([
      [0, delivered()],
      [DEADLINE, timer(DEADLINE_TIMER)],
      [DEADLINE, refused()],
    ]);
    expect(waiting.kinds).toContain("abort");
    expect(waiting.record).toMatchObject({ status: "timeout", startedAt: null });

    const late = run([[DEADLINE + 1, delivered()]]);
    expect(late.kinds).not.toContain("acquirePermit");
    expect(late.record).toMatchObject({ status: "timeout", error: { message: /deadline passed/ } });
  });

  it("cancels a call waiting for permits, and one whose tool runs even if the tool ignores it", () => {
    const waiting = run([
      [0, delivered()],
      [5, cancelled(CancelReason.client)],
      [6, refused()],
    ]);
    expect(waiting.commands).toContainEqual({
      kind: "abort",
      cause: { kind: "cancelled", reason: CancelReason.client, of: "request" },
    });
    expect(waiting.attempts).toEqual([]);
    expect(waiting.record).toMatchObject({ status: "cancelled", startedAt: null });

    const running = run([...started(), [20, cancelled(CancelReason.race, "call")], [30, succeeded(1, "late")]]);
    expect(running.kinds).toContain("abort");
    expect(running.record).toMatchObject({ status: "cancelled", error: { message: /race group/ } });

    // The request's deadline broadcast is a timeout, whoever hears it first.
    const broadcast = run([...started(), [20, cancelled(CancelReason.timeout)], [30, failed(1)]]);
    expect(broadcast.record).toMatchObject({ status: "timeout" });

    // While an idempotent tool waits to be tried again, nothing runs: the cancel ends the call at once.
    const pausing = run([...started(idempotent), [20, failed(1)], [30, cancelled()]]);
    expect(pausing.record).toMatchObject({ status: "cancelled", durationMs: 20 });
    expect(pausing.commands).toContainEqual({ kind: "clearTimer", name: RETRY_TIMER });

    // A cancel heard before the call is checked: recorded without asking for permits.
    const early = run([
      [0, cancelled(CancelReason.timeout)],
      [1, delivered()],
    ]);
    expect(early.kinds).not.toContain("acquirePermit");
    expect(early.record).toMatchObject({ status: "cancelled", startedAt: null });
  });

  it("does not run a redelivered call whose result an earlier delivery published", () => {
    const redelivered = initialCallState(call(), { deliveryCount: 2, redelivered: true }, "x1");
    const found = run(
      [
        [0, delivered()],
        [5, { type: "lookedUp", found: true }],
      ],
      redelivered,
    );
    expect(found.kinds).toEqual(["lookUp"]);
    expect(found.end).toEqual({ kind: "skipped" });

    const notFound = run(
      [
        [0, delivered()],
        [5, { type: "lookedUp", found: false }],
      ],
      redelivered,
    );
    expect(notFound.kinds).toEqual(["lookUp", "setTimer", "acquirePermit"]);

    const unknown = run(
      [
        [0, delivered()],
        [5, { type: "effectFailed", command: { kind: "lookUp" }, error: new Error("no leader") }],
      ],
      redelivered,
    );
    expect(unknown.kinds).not.toContain("acquirePermit");
    expect(unknown.end).toMatchObject({ kind: "failed" });

    const first = run([[0, delivered()]]);
    expect(first.kinds).not.toContain("lookUp");
  });

  it("hands back a stopping copy's call whose tool has not started, and finishes one whose tool runs", () => {
    const beforeAsking = run([
      [0, stopping],
      [1, delivered()],
    ]);
    expect(beforeAsking.kinds).not.toContain("acquirePermit");
    expect(beforeAsking.end).toEqual({ kind: "handedBack" });

    // The question in flight is heard out; what it granted goes back before the hand-back, and the
    // claim is let go so that the next copy need not wait for its lease.
    const grantedLate = run([
      [0, delivered()],
      [5, stopping],
      [6, granted],
    ]);
    expect(grantedLate.kinds).toEqual([
      "setTimer",
      "acquirePermit",
      "stopAsking",
      ...clearTimers,
      "releaseClaim",
      "release",
    ]);
    expect(grantedLate.end).toBeUndefined();
    expect(run([[7, { type: "released" }]], grantedLate.state).end).toEqual({ kind: "handedBack" });

    const refusedLate = run([
      [0, delivered()],
      [5, stopping],
      [6, refused(new TerminalError(ErrorCode.INTERNAL, "stopped asking"))],
    ]);
    expect(refusedLate.record).toBeUndefined();
    expect(refusedLate.end).toEqual({ kind: "handedBack" });

    const running = run([...started(), [20, stopping], [30, succeeded()], ...closing]);
    expect(running.kinds).not.toContain("stopAsking");
    expect(running.end).toMatchObject({ kind: "recorded", outcome: { kind: "succeeded" } });

    // Refused by the worker pool, which is stopping: the tool never ran.
    const refusedThread = run([...started(), [20, failed(1, new NotStartedError())], [21, { type: "released" }]]);
    expect(refusedThread.record).toBeUndefined();
    expect(refusedThread.end).toEqual({ kind: "handedBack" });
  });

  it("publishes progress in order while the tool runs, and none after the call was abandoned", () => {
    const progress = (partial: unknown): Fed => ({ type: "progress", partial, reply: noReply });
    const { commands } = run([
      ...started(),
      [20, progress("a")],
      [30, progress("b")],
      [40, cancelled()],
      [50, progress("c")],
    ]);
    const published = commands.flatMap((c) => (c.kind === "publishProgress" ? [c.event] : []));
    expect(published).toMatchObject([
      { type: "tool.progress", seq: 1, partial: "a" },
      { type: "tool.progress", seq: 2, partial: "b" },
    ]);
    expect(commands.filter((c) => c.kind === "skipProgress")).toHaveLength(1);
  });

  it("restarts an MCP tool's timeout at each progress report, and no other tool's", () => {
    const progress: Fed = { type: "progress", partial: { progress: 1 }, reply: noReply };
    const mcp: HostedTool = { idempotent: false, timeoutMs: 1_000, source: "mcp" };
    const alive = run([...started(mcp), [900, progress], [1_800, progress]]);
    expect(alive.timers.filter(([name]) => name === TOOL_TIMEOUT_TIMER)).toEqual([
      [TOOL_TIMEOUT_TIMER, 10 + 1_000],
      [TOOL_TIMEOUT_TIMER, 900 + 1_000],
      [TOOL_TIMEOUT_TIMER, 1_800 + 1_000],
    ]);
    // Silent for a whole timeout after its last report: timed out (once the aborted tool has returned).
    const silent = run([...started(mcp), [900, progress], [1_900, timer(TOOL_TIMEOUT_TIMER)], [1_910, failed()]]);
    expect(silent.record).toMatchObject({ status: "timeout" });

    const local: HostedTool = { idempotent: false, timeoutMs: 1_000, source: "typescript" };
    const counted = run([...started(local), [900, progress]]);
    expect(counted.timers.filter(([name]) => name === TOOL_TIMEOUT_TIMER)).toEqual([[TOOL_TIMEOUT_TIMER, 1_010]]);
  });

  it("blocks a tool that answers 429, and asks for an idempotent call's permit again, without using up its tries", () => {
    const limited = (attempt: number) => failed(attempt, new ToolRateLimitedError("too many", 2_000));
    const blocked: Fed = { type: "toolBlocked" };
    const { commands, kinds, attempts, record } = run([
      ...started(idempotent),
      [50, limited(1)],
      [60, blocked],
      [70, { type: "released" }],
      [2_060, granted],
      [2_100, limited(2)],
      [2_110, blocked],
      [2_120, { type: "released" }],
      [4_120, granted],
      [4_130, limited(3)],
      [4_140, blocked],
      [4_150, { type: "released" }],
      [6_150, granted],
      [6_160, succeeded(4)],
    ]);
    expect(commands.filter((c) => c.kind === "blockTool")).toEqual([
      { kind: "blockTool", until: 50 + 2_000 },
      { kind: "blockTool", until: 2_100 + 2_000 },
      { kind: "blockTool", until: 4_130 + 2_000 },
    ]);
    expect(attempts).toEqual([1, 2, 3, 4]); // more tries than IDEMPOTENT_ATTEMPTS allows after failures
    expect(IDEMPOTENT_ATTEMPTS).toBeLessThan(4);
    expect(kinds.filter((kind) => kind === "publishStarted")).toHaveLength(1);
    expect(kinds.filter((kind) => kind === "acquirePermit")).toHaveLength(4);
    expect(record).toMatchObject({ status: "succeeded", result: "ok" });
  });

  it("fails with RATE_LIMITED a call that may not be tried again: side effects, or a block past the deadline", () => {
    const limited = failed(1, new ToolRateLimitedError("slow down", 2_000));
    const blocked: Fed = { type: "toolBlocked" };
    for (const [tool, at] of [
      [sideEffects, 50],
      [idempotent, DEADLINE - 1_000],
    ] as const) {
      const { commands, record } = run([
        [0, delivered(tool)],
        [10, granted],
        [at, limited],
        [at + 10, blocked],
      ]);
      expect(commands.some((c) => c.kind === "blockTool")).toBe(true); // blocked for every copy all the same
      expect(record).toMatchObject({ status: "failed", error: { code: ErrorCode.RATE_LIMITED, message: "slow down" } });
    }
  });

  it("claims a call of a tool with side effects before its permit, and renews the claim until the run ends", () => {
    const { commands, end } = run(
      [
        [0, delivered()],
        [5, { type: "claimed" }],
        [10, granted],
        [3_005, timer(CLAIM_RENEW_TIMER)],
        [4_000, succeeded()],
        ...closing,
      ],
      undefined,
      "manual",
    );
    const kinds = commands.filter((c) => c.kind !== "log" && c.kind !== "setTimer" && c.kind !== "clearTimer");
    expect(kinds.map((c) => c.kind)).toEqual([
      "claim",
      "acquirePermit",
      "publishStarted",
      "startTool",
      "renewClaim",
      "publishResult",
      "release",
    ]);
    expect(commands).toContainEqual({ kind: "setTimer", name: CLAIM_RENEW_TIMER, at: 5 + CLAIM_RENEW_MS });
    expect(commands).toContainEqual({ kind: "setTimer", name: CLAIM_RENEW_TIMER, at: 3_005 + CLAIM_RENEW_MS });
    expect(end).toMatchObject({ kind: "recorded", outcome: { kind: "succeeded" } });

    // An idempotent tool may run twice: it is not claimed.
    const idempotentRun = run([[0, delivered(idempotent)]], undefined, "manual");
    expect(idempotentRun.kinds).toEqual(["setTimer", "acquirePermit"]);
  });

  it("renews the call's concurrency places every third of their lease, from the grant until they go back", () => {
    const holding: Fed = { type: "permitGranted", waitedFor: [], renewEveryMs: 500 };
    const renewals = (commands: readonly (CallCommand | TimerCommand)[]) =>
      commands.filter((c) => c.kind === "renewPlaces").length;
    const renewTimers = (commands: readonly (CallCommand | TimerCommand)[]) =>
      commands.filter((c) => (c.kind === "setTimer" || c.kind === "clearTimer") && c.name === PLACES_RENEW_TIMER);
    const tick = (at: number): [number, Fed] => [at, timer(PLACES_RENEW_TIMER)];

    const long = run([[0, delivered(idempotent)], [10, holding], tick(510), tick(1_010), [1_200, succeeded()]]);
    expect(renewals(long.commands)).toBe(2);
    expect(renewTimers(long.commands)).toEqual([
      { kind: "setTimer", name: PLACES_RENEW_TIMER, at: 510 },
      { kind: "setTimer", name: PLACES_RENEW_TIMER, at: 1_010 },
      { kind: "setTimer", name: PLACES_RENEW_TIMER, at: 1_510 },
    ]);
    // Still held while the outcome is published; given back once it is stored, and renewed no more.
    const publishing = run([tick(1_510)], long.state);
    expect(publishing.kinds).toEqual(["renewPlaces", "setTimer"]);
    const given = run([[1_600, { type: "resultPublished" }]], publishing.state);
    expect(given.commands).toEqual([{ kind: "clearTimer", name: PLACES_RENEW_TIMER }, { kind: "release" }]);
    const late = run([tick(2_010), [2_020, { type: "released" }]], given.state);
    expect(renewals(late.commands)).toBe(0);
    expect(late.end).toMatchObject({ kind: "recorded" });

    // A call that holds no place (no renewal asked) sets no timer.
    expect(renewTimers(run([...started(idempotent), [1_200, succeeded()], ...closing]).commands)).toEqual([]);

    // Granted while the copy stops: the places go back at once, never renewed.
    const handedBack = run([[0, delivered()], [5, stopping], [6, holding], tick(506)]);
    expect(renewals(handedBack.commands)).toBe(0);
    expect(renewTimers(handedBack.commands).filter((c) => c.kind === "setTimer")).toEqual([]);

    // Given back before the next try after the tool's 429, and renewed again with the new grant.
    const limited = failed(1, new ToolRateLimitedError("too many", 1_000));
    const requeued = run([
      [0, delivered(idempotent)],
      [10, holding],
      [20, limited],
      [30, { type: "toolBlocked" }],
      tick(510),
      [40, { type: "released" }],
      [1_040, holding],
    ]);
    expect(renewals(requeued.commands)).toBe(0);
    expect(renewTimers(requeued.commands)).toEqual([
      { kind: "setTimer", name: PLACES_RENEW_TIMER, at: 510 },
      { kind: "clearTimer", name: PLACES_RENEW_TIMER },
      { kind: "setTimer", name: PLACES_RENEW_TIMER, at: 1_540 },
    ]);
  });

  it("never starts a call another run holds: it waits for that run's result, or for its claim to lapse", () => {
    // A redelivery looks for a result first; none yet, so it claims, and finds the call held.
    const waiting = run(
      [
        [0, delivered()],
        [2, { type: "lookedUp", found: false }],
        [5, { type: "claimHeld", until: 8_000 }],
      ],
      initialCallState(call(), { deliveryCount: 2, redelivered: true }, "x2"),
      "manual",
    );
    expect(waiting.kinds).toEqual(["lookUp", "setTimer", "claim", "setTimer"]);
    expect(waiting.timers).toContainEqual([HOLDER_POLL_TIMER, 5 + HOLDER_POLL_MS]);
    expect(waiting.end).toBeUndefined();

    // The holder published its result: acked without running.
    const finished = run(
      [
        [1_005, timer(HOLDER_POLL_TIMER)],
        [1_010, { type: "lookedUp", found: true }],
      ],
      waiting.state,
      "manual",
    );
    expect(finished.kinds).toEqual(["lookUp"]);
    expect(finished.end).toEqual({ kind: "skipped" });

    // The holder died: no result, its claim lapsed, so this run takes the call over and runs it.
    const takenOver = run(
      [
        [8_005, timer(HOLDER_POLL_TIMER)],
        [8_010, { type: "lookedUp", found: false }],
        [8_015, { type: "claimed" }],
        [8_020, granted],
      ],
      waiting.state,
      "manual",
    );
    expect(takenOver.kinds).toEqual([
      "lookUp",
      "setTimer",
      "claim",
      "setTimer",
      "acquirePermit",
      "publishStarted",
      "startTool",
    ]);

    // Abandoned meanwhile (a cancel, the deadline): the holder records the call, this run only acks.
    const abandoned = run([[20, cancelled()]], waiting.state, "manual");
    expect(abandoned.end).toEqual({ kind: "skipped" });
    expect(abandoned.record).toBeUndefined();
    const stopped = run([[20, stopping]], waiting.state, "manual");
    expect(stopped.end).toEqual({ kind: "handedBack" });
    expect(stopped.kinds).not.toContain("releaseClaim");

    // Not knowing whether the call is held is not "no": the run ends and the call is delivered again.
    const unknown = run(
      [
        [0, delivered()],
        [5, { type: "effectFailed", command: { kind: "claim" }, error: new Error("no leader") }],
      ],
      undefined,
      "manual",
    );
    expect(unknown.kinds).not.toContain("acquirePermit");
    expect(unknown.end).toMatchObject({ kind: "failed" });
  });

  it("looks a cached tool's result up before its permit: a hit takes no permit and is recorded as cached", () => {
    const hit = run([
      [0, delivered(cached)],
      [40, { type: "cacheHit", value: { price: 42 } }],
    ]);
    expect(hit.kinds).toEqual(["setTimer", "claimCacheKey", "publishStarted", ...clearTimers, "publishResult"]);
    expect(hit.record).toMatchObject({ status: "succeeded", result: { price: 42 }, cached: true, startedAt: 40 });
    expect(hit.commands.find((c) => c.kind === "publishStarted")).toMatchObject({
      event: { type: "tool.started", callId: "c1" },
    });
    expect(run([[0, { type: "resultPublished" }]], hit.state).end).toMatchObject({ kind: "recorded" });

    // A miss: the key is the call's lease, it asks for its permit and runs, and its try keeps the key.
    const miss = run([
      [0, delivered(cached)],
      [5, { type: "cacheMissed" }],
      [10, granted],
      [60, succeeded()],
      ...closing,
    ]);
    expect(miss.kinds).toContain("acquirePermit");
    expect(miss.kinds).not.toContain("releaseCacheKey");
    expect(miss.record).toMatchObject({ status: "succeeded", startedAt: 10 });
    expect(miss.record?.cached).toBeUndefined();

    // A request that bypasses the cache asks for its permit at once.
    const bypass = run(
      [[0, delivered(cached)]],
      initialCallState(call({ cache: false }), { deliveryCount: 1, redelivered: false }, "x1"),
    );
    expect(bypass.kinds).toEqual(["setTimer", "acquirePermit"]);
  });

  it("gives up the cache key of a call that held it and will not run, and asks no permit after a cancel or a stop", () => {
    // Cancelled while it waited for an identical call's run: it held no key.
    const waiting = run([
      [0, delivered(cached)],
      [5, cancelled()],
      [6, { type: "effectFailed", command: { kind: "claimCacheKey" }, error: new Error("aborted") }],
    ]);
    expect(waiting.kinds).toContain("abort");
    expect(waiting.kinds).not.toContain("acquirePermit");
    expect(waiting.kinds).not.toContain("releaseCacheKey");
    expect(waiting.record).toMatchObject({ status: "cancelled", startedAt: null });

    // Cancelled while it held the key and waited for its permit.
    const permitWait = run([
      [0, delivered(cached)],
      [5, { type: "cacheMissed" }],
      [6, cancelled()],
      [7, refused()],
    ]);
    expect(permitWait.kinds.filter((kind) => kind === "releaseCacheKey")).toHaveLength(1);
    expect(permitWait.record).toMatchObject({ status: "cancelled" });

    // A stopping copy stops waiting for the run, and hands back a call that took the key.
    const stopped = run([
      [0, delivered(cached)],
      [5, stopping],
      [6, { type: "effectFailed", command: { kind: "claimCacheKey" }, error: new Error("stopped") }],
    ]);
    expect(stopped.kinds).toEqual(["setTimer", "claimCacheKey", "stopAsking", ...clearTimers]);
    expect(stopped.end).toEqual({ kind: "handedBack" });
    const tookTheKey = run([
      [0, delivered(cached)],
      [5, stopping],
      [6, { type: "cacheMissed" }],
    ]);
    expect(tookTheKey.kinds).toEqual(["setTimer", "claimCacheKey", "stopAsking", "releaseCacheKey", ...clearTimers]);
    expect(tookTheKey.end).toEqual({ kind: "handedBack" });

    // A cache that cannot be read does not stop the call: it asks for its permit and runs.
    const unread = run([
      [0, delivered(cached)],
      [5, { type: "effectFailed", command: { kind: "claimCacheKey" }, error: new Error("no leader") }],
    ]);
    expect(unread.kinds.at(-1)).toBe("acquirePermit");
  });

  it("records an unknown tool as a failure, and never changes a given state", () => {
    expect(run([[0, { type: "delivered", tool: undefined }]]).record).toMatchObject({
      error: { code: ErrorCode.UNKNOWN_TOOL },
    });

    const given = run(started()).state;
    const copy = structuredClone({ ...given, call: given.call });
    callFlow.step(given, cancelled(), 30);
    expect(given).toEqual(copy);
  });
});

const clearTimers = ["clearTimer", "clearTimer", "clearTimer"];
