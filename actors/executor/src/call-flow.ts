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
import { isCacheable } from "./result-cache.ts";
import { IDEMPOTENT_ATTEMPTS, TOOL_RETRY_BACKOFF } from "./retries.ts";
import { CLAIM_RENEW_MS } from "./call-claims.ts";

/** Fires at the call's deadline: while it waits for permits and while its tool runs. */
export const DEADLINE_TIMER = "deadline";
/** Fires when the tool has run for its timeout (the call's own, or else the tool's). */
export const TOOL_TIMEOUT_TIMER = "tool-timeout";
/** Fires when an idempotent tool that failed may be tried again. */
export const RETRY_TIMER = "retry";
/** Fires when the run renews its claim on the call (tools with side effects). */
export const CLAIM_RENEW_TIMER = "claim-renew";
/** Fires when the run renews the call's concurrency places (their lease), while it holds them. */
export const PLACES_RENEW_TIMER = "places-renew";
/** Fires when a run that found the call held by another looks again: for its result, or a lapsed claim. */
export const HOLDER_POLL_TIMER = "holder-poll";
/** How often a run that found the call held by another looks again. */
export const HOLDER_POLL_MS = 1_000;

/** What the flow needs to know of the tool this executor hosts under the call's name. */
export type HostedTool = Pick<ToolDefinition, "idempotent" | "timeoutMs"> &
  Partial<Pick<ToolDefinition, "source" | "readOnly" | "cache">>;

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
  /** The call is this run's: no other run starts its tool while the run renews the claim. */
  | { type: "claimed" }
  /** Another run (of this copy or another) holds the call until `until`, unless it renews its claim. */
  | { type: "claimHeld"; until: number }
  /** The result cache had the call's result, or an identical call's run it waited for gave it one. */
  | { type: "cacheHit"; value: unknown }
  /** The result cache had nothing for the call: its key is now the call's lease, and the call runs. */
  | { type: "cacheMissed" }
  /**
   * `waitedFor`: the scopes whose lines the call waited in (shown in its `tool.started`);
   * `renewEveryMs`: how often its concurrency places must be renewed (absent: it holds none).
   */
  | { type: "permitGranted"; waitedFor: string[]; renewEveryMs?: number | undefined }
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
  /** Claim the call for this run; answered by `claimed` or `claimHeld` (a failure ends the run, as for `lookUp`). */
  | { kind: "claim" }
  /** Extend this run's claim (a failure is logged: the claim holds until its lease ends). */
  | { kind: "renewClaim" }
  /** Let the claim go at once, so that the copy the call is handed back to need not wait for its lease. */
  | { kind: "releaseClaim" }
  /**
   * Look the call's result up in the result cache, waiting for an identical call's run if one holds the
   * key, else take the key as the call's lease; answered by `cacheHit` or `cacheMissed`.
   */
  | { kind: "claimCacheKey" }
  /** The call holds its cache key and will not run: give the key up, for identical calls to run instead. */
  | { kind: "releaseCacheKey" }
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
  /** Start the lease of the call's concurrency places again (a failure is logged: the next renewal may do). */
  | { kind: "renewPlaces" }
  /** Give the concurrency places back; answered by `released`. */
  | { kind: "release" }
  | { kind: "log"; message: string; fields: Record<string, unknown> };

/** How the run of a delivered call ended; the shell turns it into the delivery's directive. */
export type CallEnd =
  /**
   * Acked without running: an earlier delivery published the result, or the run that holds the call
   * was still working on it when the call was abandoned (that run records it).
   */
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
  | { name: "claiming" }
  /** Another run holds the call: looked at again every HOLDER_POLL_MS. */
  | { name: "awaitingHolder" }
  /** Its tool caches results: the call looks its result up before it asks for a permit. */
  | { name: "claimingCacheKey" }
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
  /** While places are held: how often they are renewed (absent: no place that needs it). */
  readonly placesRenewMs?: number | undefined;
  /** This run holds the call's claim (renewed until the run ends, or released when it hands the call back). */
  readonly claimHeld: boolean;
  /** The call holds its result-cache key and has not started its tool (which keeps it from then). */
  readonly cacheKeyHeld: boolean;
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
    claimHeld: false,
    cacheKeyHeld: false,
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
 * passed is recorded as such at once. A call of a tool that caches its results looks its result up
 * first (docs/adr/0025): a hit, or the run of an identical call it waits for, is its result, with no
 * permit taken; otherwise its key is its lease while it runs. A call of a tool with side effects is
 * claimed first (docs/adr/0030); while another run holds it, this run waits for that run's result (or
 * for its claim to lapse) and never starts the tool. It then waits for its permits, bounded by the
 * deadline, then runs its tool under the tool's timeout while `tool.started` is stored; an idempotent
 * tool that fails in a way that may pass is tried again (`IDEMPOTENT_ATTEMPTS`, pauses from
 * `TOOL_RETRY_BACKOFF`), a tool with side effects once. A cancel or a timeout aborts the permit wait or
 * the tool; the outcome is then
 * `cancelled` or `timeout` (`abortOutcome`), even when the tool ignores its signal and returns. The
 * outcome is published, then the concurrency places are given back (renewed until then, every third of
 * their lease: docs/adr/0035), then the call is acked. A copy that
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
      case "claimed":
        return onClaimed(state, now);
      case "claimHeld":
        return onClaimHeld(state, event.until, now);
      case "cacheHit":
        return onCacheHit(state, event.value, now);
      case "cacheMissed":
        return state.phase.name === "claimingCacheKey"
          ? askAgain({ ...state, cacheKeyHeld: true }, 1, now)
          : stay(state);
      case "permitGranted":
        return onPermitGranted(state, event.waitedFor, event.renewEveryMs, now);
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
  // Waiting (for a cached result, a claim, a permit) is bounded by the deadline; the tool's own timeout
  // counts from its start.
  const deadline: Command = { kind: "setTimer", name: DEADLINE_TIMER, at: call.deadline };
  // A hit does not reach the tool's upstream, so it must not spend the tool's rate budget: looked up first.
  if (isCacheable(call, state.tool))
    return stay({ ...state, phase: { name: "claimingCacheKey" } }, [deadline, { kind: "claimCacheKey" }]);
  // Claimed before the permit: a claim stuck in a bucket's election must not start the tool in a later
  // window of its rate limit than the one that admitted it.
  if (needsClaim(state)) return stay({ ...state, phase: { name: "claiming" } }, [deadline, { kind: "claim" }]);
  return stay({ ...state, phase: { name: "waitingForPermit", attempt: 1 } }, [deadline, { kind: "acquirePermit" }]);
}

/**
 * A tool with side effects must not run twice for one call, and a call can be delivered again while a
 * run still works on it: on another copy when a consumer leader elected after a node died has lost the
 * progress acks, or when the run's copy could not ack for an ack wait. The claim tells the second run.
 */
const needsClaim = (state: CallFlowState) => state.tool?.idempotent !== true && !state.claimHeld;

function onClaimed(state: CallFlowState, now: number): Out {
  if (state.phase.name !== "claiming") return stay(state);
  const claimed = { ...state, claimHeld: true };
  const renew: Command = { kind: "setTimer", name: CLAIM_RENEW_TIMER, at: now + CLAIM_RENEW_MS };
  if (state.stopping) return handBack(claimed);
  if (state.abort) return finish(claimed, abortOutcome(abortReasonOf(state.abort)), now);
  // The deadline's timer is set already.
  return stay({ ...claimed, phase: { name: "waitingForPermit", attempt: 1 } }, [renew, { kind: "acquirePermit" }]);
}

function onClaimHeld(state: CallFlowState, until: number, now: number): Out {
  if (state.phase.name !== "claiming") return stay(state);
  if (state.stopping) return handBack(state);
  if (state.abort) return leaveToHolder(state);
  return stay({ ...state, phase: { name: "awaitingHolder" } }, [
    { kind: "log", message: "another run holds the call; waiting for its result", fields: { until } },
    { kind: "setTimer", name: HOLDER_POLL_TIMER, at: now + HOLDER_POLL_MS },
  ]);
}

/** The run that holds the call records its outcome (it hears the cancel, it has the deadline too). */
function leaveToHolder(state: CallFlowState): Out {
  return end(state, { kind: "skipped" }, [
    { kind: "log", message: "abandoned while another run holds the call; that run records it", fields: {} },
  ]);
}

/** The call's result came from the cache: announced started, as every call is, and recorded at once. */
function onCacheHit(state: CallFlowState, value: unknown, now: number): Out {
  if (state.phase.name !== "claimingCacheKey") return stay(state);
  if (state.abort) return finish(state, abortOutcome(abortReasonOf(state.abort)), now);
  const out = finish({ ...state, startedAt: now }, { kind: "succeeded", result: value ?? null, cached: true }, now);
  return { ...out, commands: [{ kind: "publishStarted", event: startedEvent(state) }, ...out.commands] };
}

/** `tool.started` of the call's first try, from this executor; `waitedFor`: the lines its permit waited in. */
function startedEvent(
  { call, deliveryCount, executorId }: CallFlowState,
  waitedFor: string[] = [],
): OrchestrateEventDraft {
  const { requestId, callId, tool, round } = call;
  return {
    type: EventType.toolStarted,
    requestId,
    callId,
    tool,
    round,
    attempt: deliveryCount,
    executor: executorId,
    ...(waitedFor.length === 0 ? {} : { waitedFor }),
  };
}

/**
 * The places are renewed from their grant until they are given back, also while the outcome is being
 * published: a place not renewed for its lease frees, though its call still runs.
 */
function onPermitGranted(
  state: CallFlowState,
  waitedFor: string[],
  renewEveryMs: number | undefined,
  now: number,
): Out {
  if (state.phase.name !== "waitingForPermit") return stay(state);
  const granted = { ...state, placesHeld: true, placesRenewMs: renewEveryMs };
  // Granted while this copy began to stop: the places go back and another copy runs the call.
  if (state.stopping) return handBack(granted);
  const out = state.abort
    ? finish(granted, abortOutcome(abortReasonOf(state.abort)), now)
    : startTool(granted, state.phase.attempt, waitedFor, now);
  if (renewEveryMs === undefined) return out;
  return {
    ...out,
    commands: [{ kind: "setTimer", name: PLACES_RENEW_TIMER, at: now + renewEveryMs }, ...out.commands],
  };
}

/** Try `attempt` of the tool starts, with its permit. */
function startTool(granted: CallFlowState, attempt: number, waitedFor: string[], now: number): Out {
  // From here the tool's try keeps the cache key (`ResultCache.through`): it stores the result, or
  // gives the key up if the try fails.
  const running = { ...granted, cacheKeyHeld: false, phase: { name: "running", attempt } } as const;
  // A try after the tool's 429: `tool.started` was published by the first.
  if (attempt > 1) return stay(running, [{ kind: "startTool", attempt }]);
  // The tool starts with its permit, and its timeout with it. Waiting for `tool.started` to be stored
  // first (seconds while the events stream elects a leader after a node died) ran calls in a later
  // window of their rate limit than the one that admitted them.
  const timeoutMs = toolTimeoutMs(granted);
  return stay({ ...running, startedAt: now }, [
    { kind: "publishStarted", event: startedEvent(granted, waitedFor) },
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
  return stay({ ...state, ...placesGiven, phase: { name: "requeueing", attempt: next } }, giveBackPlaces(state));
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
    case "claiming":
      return stay(aborted); // decided when the call is checked, or the claim answered
    case "awaitingHolder":
      return leaveToHolder(aborted);
    case "blocking":
    case "requeueing":
      return stay(aborted); // decided when the block is stored, or the places are back
    case "claimingCacheKey":
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
  // A tool that has started is finished here; one waiting for permits, or for an identical call's run,
  // stops asking; one waiting for another run that holds the call goes back.
  const asking = state.phase.name === "waitingForPermit" || state.phase.name === "claimingCacheKey";
  if (asking) return stay(stopping, [{ kind: "stopAsking" }]);
  return state.phase.name === "awaitingHolder" ? handBack(stopping) : stay(stopping);
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
    case PLACES_RENEW_TIMER:
      return state.placesHeld && state.placesRenewMs !== undefined
        ? stay(state, [
            { kind: "renewPlaces" },
            { kind: "setTimer", name: PLACES_RENEW_TIMER, at: now + state.placesRenewMs },
          ])
        : stay(state);
    case CLAIM_RENEW_TIMER:
      return state.claimHeld
        ? stay(state, [{ kind: "renewClaim" }, { kind: "setTimer", name: CLAIM_RENEW_TIMER, at: now + CLAIM_RENEW_MS }])
        : stay(state);
    case HOLDER_POLL_TIMER:
      // The holder may have finished (its result is published) or died (its claim lapses).
      return state.phase.name === "awaitingHolder"
        ? stay({ ...state, phase: { name: "lookingUp" } }, [{ kind: "lookUp" }])
        : stay(state);
    default:
      return stay(state);
  }
}

function onEffectFailed(state: CallFlowState, command: CallCommand, error: unknown, now: number): Out {
  switch (command.kind) {
    case "lookUp":
    case "claim":
      // Not knowing is not "no": answering no would run a call with side effects a second time.
      return end(state, { kind: "failed", error });
    case "claimCacheKey":
      if (state.phase.name !== "claimingCacheKey") return stay(state);
      if (state.abort) return finish(state, abortOutcome(abortReasonOf(state.abort)), now);
      if (state.stopping) return handBack(state);
      // The cache could not be read: the call runs, and its try looks the key up once more.
      return withLog(askAgain(state, 1, now), "could not look the result cache up; running the call", error);
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
  return withLog(
    finish(state, { kind: "failed", error: toErrorBody(error, ErrorCode.TOOL_FAILED) }, now),
    "tool failed",
    error,
  );
}

function withLog(out: Out, message: string, error: unknown): Out {
  return { ...out, commands: [{ kind: "log", message, fields: { err: error } }, ...out.commands] };
}

/** A call that holds its cache key and ends without running gives it up, so an identical call waits no longer. */
function letGoOfCacheKey(state: CallFlowState): Out {
  return state.cacheKeyHeld ? stay({ ...state, cacheKeyHeld: false }, [{ kind: "releaseCacheKey" }]) : stay(state);
}

/** Publishes the call's record; the places go back and the call is acked once it is stored. */
function finish(state: CallFlowState, outcome: Outcome, now: number): Out {
  const { state: letGo, commands } = letGoOfCacheKey(state);
  return stay({ ...letGo, phase: { name: "publishing", outcome } }, [
    ...commands,
    ...STOP_TIMERS,
    { kind: "publishResult", record: recordOf(state.call, outcome, state.startedAt, now) },
  ]);
}

function handBack(state: CallFlowState): Out {
  const { state: cacheLetGo, commands } = letGoOfCacheKey(state);
  const out = release({ ...cacheLetGo, claimHeld: false }, { kind: "handedBack" });
  const claimLetGo: Command[] = state.claimHeld
    ? [{ kind: "clearTimer", name: CLAIM_RENEW_TIMER }, { kind: "releaseClaim" }]
    : [];
  return { ...out, commands: [...commands, ...STOP_TIMERS, ...claimLetGo, ...out.commands] };
}

function release(state: CallFlowState, callEnd: CallEnd): Out {
  if (!state.placesHeld) return end(state, callEnd);
  return stay({ ...state, ...placesGiven, phase: { name: "releasing", end: callEnd } }, giveBackPlaces(state));
}

const placesGiven = { placesHeld: false, placesRenewMs: undefined } as const;

/** Gives the places back, and renews them no more. */
function giveBackPlaces(state: CallFlowState): Command[] {
  const stopRenewing: Command[] =
    state.placesRenewMs === undefined ? [] : [{ kind: "clearTimer", name: PLACES_RENEW_TIMER }];
  return [...stopRenewing, { kind: "release" }];
}

function end(state: CallFlowState, callEnd: CallEnd, commands: Command[] = []): Out {
  return stay({ ...state, phase: { name: "done", end: callEnd } }, commands);
}
