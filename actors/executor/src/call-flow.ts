import {
  CancelReason,
  describeCancel,
  ErrorCode,
  EventType,
  TerminalError,
  toErrorBody,
  type ExecCall,
  type OrchestrateEventDraft,
  type ToolCallRecord,
  type ToolDefinition,
} from "@toolformer/protocol";
import { backoffDelayMs, type Machine, type Step, type TimerCommand, type TimerEvent } from "@toolformer/runtime";
import { abortOutcome, CancelledReason, NotStartedError, TimeoutReason } from "./abort-reasons.ts";
import { ToolRateLimitedError } from "./tool-rate-limited.ts";
import { recordOf, type Outcome } from "./outcome.ts";
import { IDEMPOTENT_ATTEMPTS, TOOL_RETRY_BACKOFF } from "./retries.ts";

/** Fires at the call's deadline: while it waits for permits and while its tool runs. */
export const DEADLINE_TIMER = "deadline";
/** Fires when the tool has run for its timeout (the call's own, or else the tool's). */
export const TOOL_TIMEOUT_TIMER = "tool-timeout";
/** Fires when an idempotent tool that failed may be tried again. */
export const RETRY_TIMER = "retry";

/** What the flow needs to know of the tool this executor hosts under the call's name. */
export type HostedTool = Pick<ToolDefinition, "idempotent" | "timeoutMs"> & Partial<Pick<ToolDefinition, "source">>;

/**
 * An MCP tool's timeout counts from its last sign of life: each progress notification restarts it, as
 * the MCP specification advises, so a long call that reports progress is not killed; the call's
 * deadline still bounds it.
 */
const timeoutRestartsOnProgress = (tool: HostedTool | undefined) => tool?.source === "mcp";

/** Why the call was abandoned: its timeout or the deadline, or a cancel of its request or of this call. */
export type AbortCause = { kind: "timeout" } | { kind: "cancelled"; reason: CancelReason; of: "request" | "call" };

/** Settles the promise a tool's `progress()` returned, once its event is published (or skipped). */
export interface ProgressReply {
  resolve(): void;
  reject(error: unknown): void;
}

export type CallEvent =
  /** The call was delivered; `tool`: the tool this executor hosts under its name, if any. */
  | { type: "delivered"; tool: HostedTool | undefined }
  /** Whether an earlier delivery already published the call's result. */
  | { type: "lookedUp"; found: boolean }
  | { type: "permitGranted" }
  /** The permit wait ended without a grant: refused, aborted, or stopped asking. */
  | { type: "permitRefused"; error: unknown }
  /** `cached`: the value came from the result cache (or an identical call's run), not from this try. */
  | { type: "toolSucceeded"; attempt: number; value: unknown; cached?: boolean }
  /** `jitter` in [0, 1): the random share of the backoff, drawn by the effects so `step` stays pure. */
  | { type: "toolFailed"; attempt: number; error: unknown; jitter: number }
  /** The tool reported partial progress; `reply` settles the promise its `progress()` returned. */
  | { type: "progress"; partial: unknown; reply: ProgressReply }
  | { type: "cancelled"; reason: CancelReason; of: "request" | "call" }
  /** This copy is stopping. */
  | { type: "stopping" }
  /** The tool's scope is blocked at the limiters (or could not be: the flow goes on either way). */
  | { type: "toolBlocked" }
  | { type: "resultPublished" }
  | { type: "released" }
  | { type: "effectFailed"; command: CallCommand; error: unknown };

export type CallCommand =
  /** Read whether an earlier delivery published the call's result (a failure ends the run: it is delivered again). */
  | { kind: "lookUp" }
  /** Wait for the call's permits (and concurrency places); answered by `permitGranted` or `permitRefused`. */
  | { kind: "acquirePermit" }
  /** Ask the limiter no more: the question in flight is still heard, and a grant is given back. */
  | { kind: "stopAsking" }
  /** Abort the permit wait or the running tool with the reason its signal carries. */
  | { kind: "abort"; cause: AbortCause }
  /**
   * Publish the call's `tool.started` while its tool starts: what the call publishes later (progress,
   * its outcome) waits until it is stored, and a failure to store it is logged, not the call's.
   */
  | { kind: "publishStarted"; event: OrchestrateEventDraft }
  /** Run the tool (try `attempt`, 1, 2, ...); answered by `toolSucceeded` or `toolFailed`. */
  | { kind: "startTool"; attempt: number }
  | { kind: "publishProgress"; event: OrchestrateEventDraft; reply: ProgressReply }
  /** Progress that comes after the call was abandoned is not published. */
  | { kind: "skipProgress"; reply: ProgressReply }
  | { kind: "publishResult"; record: ToolCallRecord }
  /** The tool said "too many": block its scope cluster-wide until `until`; answered by `toolBlocked`. */
  | { kind: "blockTool"; until: number }
  /** Give the concurrency places back; answered by `released`. */
  | { kind: "release" }
  | { kind: "log"; message: string; fields: Record<string, unknown> };

/** How the run of a delivered call ended; the shell turns it into the delivery's directive. */
export type CallEnd =
  /** An earlier delivery published the result: acked without running. */
  | { kind: "skipped" }
  /** The outcome is recorded: acked. */
  | { kind: "recorded"; outcome: Outcome }
  /** This copy is stopping and the tool had not started: another copy runs the call. */
  | { kind: "handedBack" }
  /** A step that must not be skipped failed (the look-up, the result's publish): the call is delivered again. */
  | { kind: "failed"; error: unknown };

type Phase =
  | { name: "idle" }
  | { name: "lookingUp" }
  /** `attempt`: the try of the tool the permit is for (a try after the tool's 429 asks again). */
  | { name: "waitingForPermit"; attempt: number }
  | { name: "running"; attempt: number }
  | { name: "backingOff"; attempt: number }
  /** The tool's 429 is being made a block; then the call asks for its permit again, or fails. */
  | { name: "blocking"; attempt: number; error: ToolRateLimitedError; tryAgain: boolean }
  /** Giving its places back before it asks for them again with its next try. */
  | { name: "requeueing"; attempt: number }
  | { name: "publishing"; outcome: Outcome }
  | { name: "releasing"; end: CallEnd }
  | { name: "done"; end: CallEnd };

export interface CallFlowState {
  readonly call: ExecCall;
  readonly deliveryCount: number;
  /** Earlier work on the call may exist (`Delivery.redelivered`): its result is looked up first. */
  readonly redelivered: boolean;
  readonly executorId: string;
  readonly tool?: HostedTool | undefined;
  readonly phase: Phase;
  /** The first reason the call was abandoned; later ones change nothing. */
  readonly abort?: AbortCause | undefined;
  readonly stopping: boolean;
  /** When the tool started (epoch ms); null until then. */
  readonly startedAt: number | null;
  /** Concurrency places were granted and are not given back yet. */
  readonly placesHeld: boolean;
  readonly progressSeq: number;
}

export function initialCallState(
  call: ExecCall,
  delivery: { deliveryCount: number; redelivered: boolean },
  executorId: string,
): CallFlowState {
  return {
    call,
    deliveryCount: delivery.deliveryCount,
    redelivered: delivery.redelivered,
    executorId,
    phase: { name: "idle" },
    stopping: false,
    startedAt: null,
    placesHeld: false,
    progressSeq: 0,
  };
}

/** How the run ended, once it has. */
export function callEnd(state: CallFlowState): CallEnd | undefined {
  return state.phase.name === "done" ? state.phase.end : undefined;
}

/**
 * One reason per cause, made once: an Error captures its stack when made, which was a third of the
 * time a cancel took to abort a copy's calls (it aborts them all at once, and each outcome asks again).
 * Frozen, since every call aborted for that cause carries the same one.
 */
const TIMEOUT_REASON = Object.freeze(new TimeoutReason());
const CANCELLED_REASONS = Object.fromEntries(
  Object.values(CancelReason).map((reason) => [reason, Object.freeze(new CancelledReason(reason))]),
) as Record<CancelReason, CancelledReason>;

/** The value a call's AbortSignal carries for a cause (what remote tools and `abortOutcome` read). */
export function abortReasonOf(cause: AbortCause): TimeoutReason | CancelledReason {
  return cause.kind === "timeout" ? TIMEOUT_REASON : CANCELLED_REASONS[cause.reason];
}

type Command = CallCommand | TimerCommand;
type Out = Step<CallFlowState, CallCommand>;
const stay = (state: CallFlowState, commands: Command[] = []): Out => ({ state, commands });

/**
 * One delivered call at the executor. A redelivered call whose result an earlier delivery published is
 * not run again. A call whose request was cancelled, whose tool is not hosted here or whose deadline
 * passed is recorded as such at once. Otherwise it waits for its permits, bounded by the deadline, then
 * runs its tool under the tool's timeout while `tool.started` is stored; an idempotent tool that fails in
 * a way that may pass is tried again (`IDEMPOTENT_ATTEMPTS`, pauses from `TOOL_RETRY_BACKOFF`), a tool with
 * side effects once. A cancel or a timeout aborts the permit wait or the tool; the outcome is then
 * `cancelled` or `timeout` (`abortOutcome`), even when the tool ignores its signal and returns. The
 * outcome is published, then the concurrency places are given back, then the call is acked. A copy that
 * stops hands back a call whose tool has not started (after the permit question in flight is answered,
 * giving back what it granted) and finishes one whose tool runs.
 */
export const callFlow: Machine<CallFlowState, CallEvent, CallCommand> = {
  isFinal: (state) => state.phase.name === "done",
  step(state, event, now) {
    switch (event.type) {
      case "delivered":
        return onDelivered(state, event.tool, now);
      case "lookedUp":
        return onLookedUp(state, event.found, now);
      case "permitGranted":
        return onPermitGranted(state, now);
      case "permitRefused":
        return onPermitRefused(state, event.error, now);
      case "toolSucceeded":
        return onToolSucceeded(state, event.attempt, event.value, event.cached ?? false, now);
      case "toolFailed":
        return onToolFailed(state, event.attempt, event.error, event.jitter, now);
      case "progress":
        return onProgress(state, event.partial, event.reply, now);
      case "cancelled":
        return onAbort(state, { kind: "cancelled", reason: event.reason, of: event.of }, now);
      case "stopping":
        return onStopping(state);
      case "toolBlocked":
        return onToolBlocked(state, now);
      case "resultPublished":
        return state.phase.name === "publishing"
          ? release(state, { kind: "recorded", outcome: state.phase.outcome })
          : stay(state);
      case "released":
        if (state.phase.name === "requeueing") return askAgain(state, state.phase.attempt, now);
        return state.phase.name === "releasing" ? end(state, state.phase.end) : stay(state);
      case "effectFailed":
        return onEffectFailed(state, event.command, event.error, now);
      case "timer":
        return onTimer(state, event, now);
    }
  },
};

function onDelivered(state: CallFlowState, tool: HostedTool | undefined, now: number): Out {
  if (state.phase.name !== "idle") return stay(state);
  const delivered = { ...state, tool };
  // A redelivery (or a handed-back copy) may find its result published by the copy that ran it.
  if (state.redelivered) return stay({ ...delivered, phase: { name: "lookingUp" } }, [{ kind: "lookUp" }]);
  return check(delivered, now);
}

function onLookedUp(state: CallFlowState, found: boolean, now: number): Out {
  if (state.phase.name !== "lookingUp") return stay(state);
  if (!found) return check(state, now);
  return end(state, { kind: "skipped" }, [
    { kind: "log", message: "already finished by an earlier delivery; not running it again", fields: {} },
  ]);
}

/** What is decided before anything is asked: a cancel heard already, the tool, the deadline, the stop. */
function check(state: CallFlowState, now: number): Out {
  const { abort, call } = state;
  if (abort?.kind === "cancelled" && abort.of === "request")
    return finish(state, { kind: "cancelled", message: describeCancel(abort.reason) }, now);
  if (!state.tool) {
    const message = `this executor does not host ${call.tool}`;
    return finish(state, { kind: "failed", error: { code: ErrorCode.UNKNOWN_TOOL, message } }, now);
  }
  if (call.deadline <= now)
    return finish(state, { kind: "timeout", message: "the deadline passed before the call could start" }, now);
  if (abort) return finish(state, abortOutcome(abortReasonOf(abort)), now);
  if (state.stopping) return handBack(state);
  // Waiting for a permit is bounded by the deadline; the tool's own timeout counts from its start.
  return stay({ ...state, phase: { name: "waitingForPermit", attempt: 1 } }, [
    { kind: "setTimer", name: DEADLINE_TIMER, at: call.deadline },
    { kind: "acquirePermit" },
  ]);
}

function onPermitGranted(state: CallFlowState, now: number): Out {
  if (state.phase.name !== "waitingForPermit") return stay(state);
  const granted = { ...state, placesHeld: true };
  // Granted while this copy began to stop: the places go back and another copy runs the call.
  if (state.stopping) return handBack(granted);
  if (state.abort) return finish(granted, abortOutcome(abortReasonOf(state.abort)), now);
  const { attempt } = state.phase;
  // A try after the tool's 429: `tool.started` was published by the first.
  if (attempt > 1) return stay({ ...granted, phase: { name: "running", attempt } }, [{ kind: "startTool", attempt }]);
  const { call } = state;
  const event: OrchestrateEventDraft = {
    type: EventType.toolStarted,
    requestId: call.requestId,
    callId: call.callId,
    tool: call.tool,
    round: call.round,
    attempt: state.deliveryCount,
    executor: state.executorId,
  };
  // The tool starts with its permit, and its timeout with it. Waiting for `tool.started` to be stored
  // first (seconds while the events stream elects a leader after a node died) ran calls in a later
  // window of their rate limit than the one that admitted them.
  const timeoutMs = toolTimeoutMs(state);
  return stay({ ...granted, phase: { name: "running", attempt }, startedAt: now }, [
    { kind: "publishStarted", event },
    ...(timeoutMs === undefined ? [] : [{ kind: "setTimer", name: TOOL_TIMEOUT_TIMER, at: now + timeoutMs } as const]),
    { kind: "startTool", attempt: 1 },
  ]);
}

function onPermitRefused(state: CallFlowState, error: unknown, now: number): Out {
  if (state.phase.name !== "waitingForPermit") return stay(state);
  // The wait ended because this copy stopped asking: another copy asks again.
  if (state.stopping && !state.abort) return handBack(state);
  if (state.abort) return finish(state, abortOutcome(abortReasonOf(state.abort)), now);
  return failed(state, error, now);
}

function onToolSucceeded(state: CallFlowState, attempt: number, value: unknown, cached: boolean, now: number): Out {
  if (state.phase.name !== "running" || state.phase.attempt !== attempt) return stay(state);
  // A tool that ignores its signal and returns after being cancelled is still reported as cancelled.
  if (state.abort) return finish(state, abortOutcome(abortReasonOf(state.abort)), now);
  return finish(state, { kind: "succeeded", result: value ?? null, ...(cached ? { cached } : {}) }, now);
}

function onToolFailed(state: CallFlowState, attempt: number, error: unknown, jitter: number, now: number): Out {
  if (state.phase.name !== "running" || state.phase.attempt !== attempt) return stay(state);
  // Refused by the worker pool because this copy is stopping: the tool never ran.
  if (error instanceof NotStartedError) return handBack(state);
  if (state.abort) return finish(state, abortOutcome(abortReasonOf(state.abort)), now);
  if (error instanceof ToolRateLimitedError) return onToolRateLimited(state, attempt, error, now);
  if (!mayTryAgain(state.tool, error, attempt)) return failed(state, error, now);
  const pauseMs = backoffDelayMs(attempt, TOOL_RETRY_BACKOFF, jitter);
  return stay({ ...state, phase: { name: "backingOff", attempt } }, [
    { kind: "log", message: "idempotent tool failed; trying again", fields: { err: error, attempt, pauseMs } },
    { kind: "setTimer", name: RETRY_TIMER, at: now + pauseMs },
  ]);
}

/**
 * The tool said "too many, retry after X": the call did not run. Its scope is blocked cluster-wide until
 * then (every copy's calls of the tool wait at the limiters, as for a model's 429), and an idempotent
 * call asks for its permit again, which the limiters grant once the block is over, if that is before
 * the deadline. Any other call fails with RATE_LIMITED. These tries do not count against the tool's
 * attempts: the tool refused them, it did not fail them.
 */
function onToolRateLimited(state: CallFlowState, attempt: number, error: ToolRateLimitedError, now: number): Out {
  const until = now + error.retryAfterMs;
  const tryAgain = state.tool?.idempotent === true && until < state.call.deadline && !state.stopping;
  return stay({ ...state, phase: { name: "blocking", attempt, error, tryAgain } }, [
    { kind: "clearTimer", name: TOOL_TIMEOUT_TIMER },
    {
      kind: "log",
      message: "the tool is rate limited; blocking it",
      fields: { retryAfterMs: error.retryAfterMs, tryAgain },
    },
    { kind: "blockTool", until },
  ]);
}

function onToolBlocked(state: CallFlowState, now: number): Out {
  const { phase } = state;
  if (phase.name !== "blocking") return stay(state);
  if (state.abort) return finish(state, abortOutcome(abortReasonOf(state.abort)), now);
  if (state.stopping) return handBack(state);
  if (!phase.tryAgain)
    return finish(
      state,
      { kind: "failed", error: { code: ErrorCode.RATE_LIMITED, message: phase.error.message } },
      now,
    );
  const next = phase.attempt + 1;
  if (!state.placesHeld) return askAgain(state, next, now);
  return stay({ ...state, placesHeld: false, phase: { name: "requeueing", attempt: next } }, [{ kind: "release" }]);
}

/** Waits for the call's permits again, for try `attempt` of the tool. */
function askAgain(state: CallFlowState, attempt: number, now: number): Out {
  if (state.abort) return finish(state, abortOutcome(abortReasonOf(state.abort)), now);
  if (state.stopping) return handBack(state);
  return stay({ ...state, phase: { name: "waitingForPermit", attempt } }, [{ kind: "acquirePermit" }]);
}

/** The call's own timeout, else its tool's. */
const toolTimeoutMs = (state: CallFlowState) => state.call.timeoutMs ?? state.tool?.timeoutMs;

/** An idempotent tool is tried again after a failure that may pass (anything but a TerminalError), up to its tries. */
export function mayTryAgain(tool: HostedTool | undefined, error: unknown, attempt: number): boolean {
  return tool?.idempotent === true && !(error instanceof TerminalError) && attempt < IDEMPOTENT_ATTEMPTS;
}

function onProgress(state: CallFlowState, partial: unknown, reply: ProgressReply, now: number): Out {
  const { phase, call } = state;
  const live = (phase.name === "running" || phase.name === "backingOff") && !state.abort;
  if (!live) return stay(state, [{ kind: "skipProgress", reply }]);
  const seq = state.progressSeq + 1;
  const { requestId, callId, tool, round } = call;
  const event: OrchestrateEventDraft = { type: EventType.toolProgress, requestId, callId, tool, round, seq, partial };
  const timeoutMs = toolTimeoutMs(state);
  const restart: Command[] =
    timeoutMs !== undefined && timeoutRestartsOnProgress(state.tool)
      ? [{ kind: "setTimer", name: TOOL_TIMEOUT_TIMER, at: now + timeoutMs }]
      : [];
  return stay({ ...state, progressSeq: seq }, [...restart, { kind: "publishProgress", event, reply }]);
}

/** A cancel or a timeout: the first one is the call's outcome once what runs has stopped. */
function onAbort(state: CallFlowState, cause: AbortCause, now: number): Out {
  if (state.abort) return stay(state);
  const aborted = { ...state, abort: cause };
  switch (state.phase.name) {
    case "idle":
    case "lookingUp":
      return stay(aborted); // decided when the call is checked
    case "blocking":
    case "requeueing":
      return stay(aborted); // decided when the block is stored, or the places are back
    case "waitingForPermit":
    case "running":
      return stay(aborted, [{ kind: "abort", cause }]);
    case "backingOff":
      return finish(aborted, abortOutcome(abortReasonOf(cause)), now);
    default:
      return stay(state);
  }
}

function onStopping(state: CallFlowState): Out {
  if (state.stopping) return stay(state);
  const stopping = { ...state, stopping: true };
  // A tool that has started is finished here; one waiting for permits stops asking.
  return state.phase.name === "waitingForPermit" ? stay(stopping, [{ kind: "stopAsking" }]) : stay(stopping);
}

function onTimer(state: CallFlowState, event: TimerEvent, now: number): Out {
  switch (event.name) {
    case DEADLINE_TIMER:
    case TOOL_TIMEOUT_TIMER:
      return onAbort(state, { kind: "timeout" }, now);
    case RETRY_TIMER: {
      if (state.phase.name !== "backingOff") return stay(state);
      const attempt = state.phase.attempt + 1;
      return stay({ ...state, phase: { name: "running", attempt } }, [{ kind: "startTool", attempt }]);
    }
    default:
      return stay(state);
  }
}

function onEffectFailed(state: CallFlowState, command: CallCommand, error: unknown, now: number): Out {
  switch (command.kind) {
    case "lookUp":
      // Not knowing is not "no": answering no would run a call with side effects a second time.
      return end(state, { kind: "failed", error });
    case "acquirePermit":
      return onPermitRefused(state, error, now);
    case "startTool":
      return state.phase.name === "running" && state.phase.attempt === command.attempt
        ? failed(state, error, now)
        : stay(state);
    case "publishResult":
      return state.phase.name === "publishing" ? release(state, { kind: "failed", error }) : stay(state);
    case "release":
      // The places free when their lease ends.
      return state.phase.name === "releasing" ? end(state, state.phase.end) : stay(state);
    default:
      return stay(state);
  }
}

const STOP_TIMERS: Command[] = [DEADLINE_TIMER, TOOL_TIMEOUT_TIMER, RETRY_TIMER].map((name) => ({
  kind: "clearTimer",
  name,
}));

function failed(state: CallFlowState, error: unknown, now: number): Out {
  const out = finish(state, { kind: "failed", error: toErrorBody(error, ErrorCode.TOOL_FAILED) }, now);
  return { ...out, commands: [{ kind: "log", message: "tool failed", fields: { err: error } }, ...out.commands] };
}

/** Publishes the call's record; the places go back and the call is acked once it is stored. */
function finish(state: CallFlowState, outcome: Outcome, now: number): Out {
  return stay({ ...state, phase: { name: "publishing", outcome } }, [
    ...STOP_TIMERS,
    { kind: "publishResult", record: recordOf(state.call, outcome, state.startedAt, now) },
  ]);
}

function handBack(state: CallFlowState): Out {
  const out = release(state, { kind: "handedBack" });
  return { ...out, commands: [...STOP_TIMERS, ...out.commands] };
}

function release(state: CallFlowState, callEnd: CallEnd): Out {
  if (!state.placesHeld) return end(state, callEnd);
  return stay({ ...state, placesHeld: false, phase: { name: "releasing", end: callEnd } }, [{ kind: "release" }]);
}

function end(state: CallFlowState, callEnd: CallEnd, commands: Command[] = []): Out {
  return stay({ ...state, phase: { name: "done", end: callEnd } }, commands);
}
