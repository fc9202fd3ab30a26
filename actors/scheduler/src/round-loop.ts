import {
  ApprovalState,
  CallStatus,
  CancelReason,
  describeCancel,
  type DecidedApproval,
  type ErrorBody,
  type OrchestrateEventDraft,
  type PlannedCall,
  type RoundSubmit,
  type ToolCallRecord,
} from "@toolformer/protocol";
import type { Machine, Step, TimerCommand, TimerEvent } from "@toolformer/runtime";
import { decisionEvent, needsApproval, refusalOf } from "./approval-policy.ts";
import { RoundState, type ReadyCall } from "./round-state.ts";

/** After a cancel or the deadline, how long running calls get to report before they are written off. */
export const ABORT_GRACE_MS = 1_500;
/** How often calls in flight are looked up in the results stream, in case a live result was missed. */
export const RECONCILE_INTERVAL_MS = 3_000;

export const DEADLINE_TIMER = "deadline";
export const ABORT_GRACE_TIMER = "abort-grace";
export const RECONCILE_TIMER = "reconcile";
/** Fires when a call waiting for approval has waited its tool's approval timeout. */
export const APPROVAL_TIMER_PREFIX = "approval:";
const approvalTimer = (callId: string) => `${APPROVAL_TIMER_PREFIX}${callId}`;

/** A running call of the model served by a speculative call (whose result, if it had one, is `finished`). */
export interface Adoption {
  callId: string;
  speculativeCallId: string;
  args: unknown;
  finished?: ToolCallRecord | undefined;
}

export type RoundEvent =
  /** The round starts; `takeover`: another scheduler held it before, so calls it hands out are read back first. */
  | { type: "started"; takeover: boolean }
  /** Calls added to the open round (in the model's order), and its seal when the model's turn ended. */
  | { type: "callsAdded"; calls: PlannedCall[]; sealTotal?: number | undefined }
  /**
   * Calls' records: live from their executors (those heard together come in one step, so a wide round
   * moves on once per batch rather than once per call), or read back from the results stream.
   */
  | { type: "resultsArrived"; records: ToolCallRecord[] }
  /** A `lookUp` has read back what it could. */
  | { type: "lookedUp"; reconcile: boolean }
  /** A takeover's reading back of the batch being handed out: the calls never handed out go on as usual. */
  | { type: "resumed"; fresh: ReadyCall[]; adopted: Adoption[]; finished: ToolCallRecord[] }
  /** A call's approval is stored as waiting (by this copy or, before a takeover, another), until `expiresAt`. */
  | { type: "approvalWaiting"; callId: string; expiresAt: number }
  /** The stored decision on a call that waits for approval (the first one: it never changes after). */
  | { type: "approvalDecided"; callId: string; record: DecidedApproval }
  /** The speculative calls the batch's read-only calls took over. */
  | { type: "claimsAnswered"; taken: Adoption[] }
  /** The client cancelled, or the deadline broadcast came (reason `timeout`). */
  | { type: "cancelled"; reason: CancelReason }
  /** This copy is stopping: hand the round back. */
  | { type: "stopping" }
  | { type: "donePublished" }
  | { type: "handedBack" }
  | { type: "effectFailed"; command: RoundCommand; error: unknown };

export type RoundCommand =
  /** Publish each record's tool event, in order; a failure of an `essential` one ends the run (the round is tried again). */
  | { kind: "announce"; records: ToolCallRecord[]; essential: boolean }
  /** Announce the call (`tool.scheduled`) and hand it to an executor. */
  | { kind: "dispatch"; call: ReadyCall }
  /**
   * Store the call's approval as waiting (unless it is stored already), announce it
   * (`tool.awaiting_approval`), and follow it: answered by `approvalWaiting`, then `approvalDecided`.
   */
  | { kind: "requestApproval"; call: ReadyCall }
  /** The call waited its approval timeout: store `expired`, unless a decision came first (the stored one holds). */
  | { kind: "expireApproval"; callId: string; tool: string }
  /** Publish an event that announces nothing the round depends on. */
  | { kind: "publishEvent"; event: OrchestrateEventDraft }
  /** A running call lost its race: tell its executor (`callId` is the id its result comes under). */
  | { kind: "cancelCall"; callId: string; tool: string }
  /** A takeover: read back what happened to these calls before any of them is published (`takeover.ts`). */
  | { kind: "resume"; calls: ReadyCall[] }
  /** Claim running speculative calls with the same tool and arguments for these read-only calls. */
  | { kind: "claimSpeculative"; calls: ReadyCall[] }
  /** Cancel the round's speculative calls no call took over, except those `keep` says a waiting call may still claim. */
  | { kind: "closeSpeculation"; keep?: ((tool: string, key: string) => boolean) | undefined }
  /** Read these calls' stored results; `reconcile`: the periodic look-up (at most one at a time). */
  | { kind: "lookUp"; resultIds: string[]; reconcile: boolean }
  /** Publish the round's records (after every publish commanded before). */
  | { kind: "publishDone"; records: ToolCallRecord[]; rejected?: ErrorBody | undefined }
  /** Hand the round back once every publish commanded before is done. */
  | { kind: "handBack" };

/** How a run of the round ended. */
export type RoundEnd =
  | { kind: "published" }
  | { kind: "handedBack" }
  /** A step that must not be skipped failed for good: the round is tried again. */
  | { kind: "failed"; error: unknown };

type Phase =
  | { name: "idle" }
  | { name: "running" }
  | { name: "publishing" }
  | { name: "handingBack" }
  | { name: "done"; end: RoundEnd };

/** A batch handed out whose look-ups are under way; nothing more is handed out until it is answered. */
type HandingOut = { step: "resuming"; calls: ReadyCall[] } | { step: "claiming"; calls: ReadyCall[] };

export interface RoundLoopState {
  readonly submit: RoundSubmit;
  /** Mutable inside, but every step works on a clone, so a state once returned never changes. */
  readonly round: RoundState;
  readonly phase: Phase;
  readonly takeover: boolean;
  readonly handingOut?: HandingOut | undefined;
  readonly cancel?: CancelReason | undefined;
  readonly stopping: boolean;
  /** The speculative calls nothing can take over any more were cancelled. */
  readonly speculationClosed: boolean;
  /** A reconcile look-up is under way. */
  readonly reconciling: boolean;
  /** Calls handed out that wait for approval before they are sent (they count as in flight). */
  readonly awaiting: ReadonlyMap<string, ReadyCall>;
  /** Approved calls not sent yet (with the arguments they run with): they go out with the next batch. */
  readonly approved: readonly ReadyCall[];
}

export function initialRoundState(submit: RoundSubmit): RoundLoopState {
  return {
    submit,
    round: new RoundState(submit),
    phase: { name: "idle" },
    takeover: false,
    stopping: false,
    speculationClosed: false,
    reconciling: false,
    awaiting: new Map(),
    approved: [],
  };
}

/** How the run ended, once it has. */
export function roundEnd(state: RoundLoopState): RoundEnd | undefined {
  return state.phase.name === "done" ? state.phase.end : undefined;
}

type Command = RoundCommand | TimerCommand;
type Out = Step<RoundLoopState, RoundCommand>;
const stay = (state: RoundLoopState, commands: Command[] = []): Out => ({ state, commands });

/**
 * One round at the scheduler: hands ready calls out under the strategy, `maxParallel` and their
 * dependencies (`RoundState`), lets read-only ones take over speculative calls, collects results,
 * cancels race losers, applies a cancel or the deadline (calls not started are dropped at once, running
 * ones get `ABORT_GRACE_MS` to confirm), and publishes the round's records. A copy that stops hands the
 * round back at once, unless it is already ending after a cancel. A takeover reads back what the calls
 * it hands out did before publishing any of them.
 */
export const roundLoop: Machine<RoundLoopState, RoundEvent, RoundCommand> = {
  isFinal: (state) => state.phase.name === "done",
  step(given, event, now) {
    const state = { ...given, round: given.round.clone() };
    switch (event.type) {
      case "started":
        return start(state, event.takeover, now);
      case "callsAdded":
        return onAdded(state, event);
      case "resultsArrived":
        return state.phase.name === "running"
          ? moveOn(
              state,
              event.records.flatMap((record) => complete(state, record)),
            )
          : stay(given);
      case "lookedUp":
        return stay(event.reconcile ? { ...state, reconciling: false } : state);
      case "resumed":
        return onResumed(state, event);
      case "claimsAnswered":
        return onClaimsAnswered(state, event.taken);
      case "approvalWaiting":
        return state.phase.name === "running" && state.awaiting.has(event.callId)
          ? stay(state, [{ kind: "setTimer", name: approvalTimer(event.callId), at: event.expiresAt }])
          : stay(given);
      case "approvalDecided":
        return onApprovalDecided(state, event.callId, event.record);
      case "cancelled":
        return onCancelled(state, event.reason, now);
      case "stopping":
        return moveOn({ ...state, stopping: true });
      case "donePublished":
        return state.phase.name === "publishing" ? end(state, { kind: "published" }) : stay(given);
      case "handedBack":
        return state.phase.name === "handingBack" ? end(state, { kind: "handedBack" }) : stay(given);
      case "effectFailed":
        return onEffectFailed(state, event.command, event.error);
      case "timer":
        return onTimer(state, event, now);
    }
  },
};

function start(state: RoundLoopState, takeover: boolean, now: number): Out {
  if (state.phase.name !== "idle") return stay(state);
  const running: RoundLoopState = { ...state, phase: { name: "running" }, takeover };
  const commands: Command[] = [
    { kind: "setTimer", name: DEADLINE_TIMER, at: state.submit.deadline },
    { kind: "setTimer", name: RECONCILE_TIMER, at: now + RECONCILE_INTERVAL_MS },
    ...announce(state.round.refused, true),
  ];
  // A cancel heard before the start is applied now.
  return running.cancel ? abort(running, commands, now) : moveOn(running, commands);
}

/**
 * Moves the round on after any change: hands out what may start (unless a batch is still being looked
 * up), hands back or finishes when it is time.
 */
function moveOn(state: RoundLoopState, commands: Command[] = []): Out {
  if (state.phase.name !== "running") return stay(state, commands);
  // Handed back once every publish so far is done: the next scheduler takes the round over. A round
  // already ending after a cancel or the deadline is finished here (the grace is short).
  if (state.stopping && !state.cancel) return handBack(state, commands);
  const out = [...commands];
  let next = state;
  if (!state.cancel && !state.handingOut) {
    const { start: ready, failed, cancel } = state.round.advance();
    out.push(...announce(failed, true));
    for (const call of cancel)
      out.push({ kind: "cancelCall", callId: state.round.resultIdOf(call.callId), tool: call.tool });
    // Calls that need approval wait alone; the others, and calls approved since, go out now.
    const asked = ready.filter((r) => needsApproval(r.call, r.args));
    const start = [...state.approved, ...ready.filter((r) => !asked.includes(r))];
    if (asked.length > 0 || state.approved.length > 0) {
      const awaiting = new Map(state.awaiting);
      for (const r of asked) awaiting.set(r.call.callId, r);
      next = { ...next, awaiting, approved: [] };
      out.push(...asked.map((call): Command => ({ kind: "requestApproval", call })));
    }
    if (start.length > 0) {
      const handed = next.takeover ? resume(next, start) : claimOrDispatch(next, start);
      next = handed.state;
      out.push(...handed.commands);
    }
    // Once the model's calls are all known, speculative calls none of them can take over stop.
    if (next.submit.speculation && !next.round.open && !next.speculationClosed && !next.handingOut) {
      const round = next.round; // never changed again: the next step works on a clone
      out.push({ kind: "closeSpeculation", keep: (tool, key) => round.mayStillClaim(tool, key) });
      next = { ...next, speculationClosed: true };
    }
  }
  // After a cancel nothing starts and an open round takes no more: the round ends with its last running call.
  if (next.round.done || (next.cancel && next.round.awaitedResultIds.length === 0)) return finish(next, out);
  return stay(next, out);
}

function resume(state: RoundLoopState, calls: ReadyCall[]): Out {
  return stay({ ...state, handingOut: { step: "resuming", calls } }, [{ kind: "resume", calls }]);
}

/** Read-only calls of a speculating request look for speculative calls first; the others go out at once. */
function claimOrDispatch(state: RoundLoopState, calls: ReadyCall[]): Out {
  const claimable = state.submit.speculation ? calls.filter((ready) => ready.call.toolInfo.readOnly) : [];
  if (claimable.length > 0)
    return stay({ ...state, handingOut: { step: "claiming", calls } }, [
      { kind: "claimSpeculative", calls: claimable },
    ]);
  return stay(
    { ...state, handingOut: undefined },
    calls.map((call) => ({ kind: "dispatch", call })),
  );
}

function onResumed(state: RoundLoopState, event: Extract<RoundEvent, { type: "resumed" }>): Out {
  if (state.phase.name !== "running" || state.handingOut?.step !== "resuming") return stay(state);
  for (const { callId, speculativeCallId, args } of event.adopted) state.round.adopt(callId, speculativeCallId, args);
  const commands = event.finished.flatMap((record) => complete(state, record));
  // A result that landed between the reading back and the adoption was not heard live: read it back.
  commands.push(...readBack(state, event.adopted));
  const ready = { ...state, handingOut: undefined };
  if (state.cancel) return moveOn(ready, [...commands, ...withdraw(ready, event.fresh)]);
  const handed = claimOrDispatch(ready, event.fresh);
  return moveOn(handed.state, [...commands, ...handed.commands]);
}

function onClaimsAnswered(state: RoundLoopState, taken: Adoption[]): Out {
  if (state.phase.name !== "running" || state.handingOut?.step !== "claiming") return stay(state);
  const commands: Command[] = [];
  const unclaimed: ReadyCall[] = [];
  for (const ready of state.handingOut.calls) {
    const adoption = taken.find((t) => t.callId === ready.call.callId);
    if (!adoption) {
      unclaimed.push(ready);
      continue;
    }
    state.round.adopt(ready.call.callId, adoption.speculativeCallId, ready.args);
    if (adoption.finished) commands.push(...complete(state, adoption.finished));
  }
  commands.push(...readBack(state, taken));
  const ready = { ...state, handingOut: undefined };
  // Calls a cancel caught before they went out never run.
  if (state.cancel) return moveOn(ready, [...commands, ...withdraw(ready, unclaimed)]);
  return moveOn(ready, [...commands, ...unclaimed.map((call): Command => ({ kind: "dispatch", call }))]);
}

/** Looks up the results of adopted speculative calls still awaited. */
function readBack(state: RoundLoopState, adopted: Adoption[]): Command[] {
  const awaited = new Set(state.round.awaitedResultIds);
  const resultIds = adopted.map((a) => a.speculativeCallId).filter((id) => awaited.has(id));
  return resultIds.length > 0 ? [{ kind: "lookUp", resultIds, reconcile: false }] : [];
}

function withdraw(state: RoundLoopState, calls: ReadyCall[]): Command[] {
  const { status, message } = cancelOf(state);
  const callIds = calls.map((ready) => ready.call.callId);
  return announce(state.round.withdraw(callIds, status, message), true);
}

/** Records a result; a call served by speculation is announced here (its executor published no event for it). */
function complete(state: RoundLoopState, result: ToolCallRecord): Command[] {
  const record = state.round.complete(result);
  return record?.speculative ? announce([record], false) : [];
}

/** An approved call goes out with the next batch; a denied or expired one ends without running. */
function onApprovalDecided(state: RoundLoopState, callId: string, record: DecidedApproval): Out {
  const ready = state.awaiting.get(callId);
  if (state.phase.name !== "running" || !ready) return stay(state);
  const awaiting = new Map(state.awaiting);
  awaiting.delete(callId);
  const waited = { ...state, awaiting };
  const commands: Command[] = [
    { kind: "clearTimer", name: approvalTimer(callId) },
    { kind: "publishEvent", event: decisionEvent(state.submit.requestId, state.submit.round, ready.call, record) },
  ];
  // A result read back on a takeover (the call ran before this copy held the round) settled it already.
  if (!state.round.isInFlight(callId)) return moveOn(waited, commands);
  if (record.state === ApprovalState.approved) {
    const approved = { call: ready.call, args: record.args ?? ready.args };
    return moveOn({ ...waited, approved: [...state.approved, approved] }, commands);
  }
  const { status, error } = refusalOf(record);
  const ended = state.round.endUnsent(callId, status, error);
  return moveOn(waited, [...commands, ...announce(ended ? [ended] : [], true)]);
}

function onAdded(state: RoundLoopState, event: Extract<RoundEvent, { type: "callsAdded" }>): Out {
  if (state.phase.name !== "running") return stay(state);
  const commands = announce(state.round.add(event.calls), false);
  if (event.sealTotal !== undefined) state.round.seal(event.sealTotal);
  if (state.cancel) {
    const { status, message } = cancelOf(state);
    commands.push(...announce(state.round.dropPending(status, message), true));
  }
  return moveOn(state, commands);
}

function onCancelled(state: RoundLoopState, reason: CancelReason, now: number): Out {
  if (state.cancel) return stay(state);
  const cancelled = { ...state, cancel: reason };
  // Before the start the cancel waits for it; once the round is ending or handed back it changes nothing.
  if (state.phase.name === "idle") return stay(cancelled);
  if (state.phase.name !== "running") return stay(state);
  return abort(cancelled, [], now);
}

/** Calls not started are dropped (those waiting for approval too); running ones get the grace period to confirm. */
function abort(state: RoundLoopState, commands: Command[], now: number): Out {
  const { status, message } = cancelOf(state);
  const unsent = [...state.awaiting.keys(), ...state.approved.map((ready) => ready.call.callId)];
  return moveOn({ ...state, awaiting: new Map(), approved: [] }, [
    ...commands,
    ...announce(state.round.dropPending(status, message), true),
    ...announce(state.round.withdraw(unsent, status, message), true),
    ...[...state.awaiting.keys()].map((callId): Command => ({ kind: "clearTimer", name: approvalTimer(callId) })),
    { kind: "setTimer", name: ABORT_GRACE_TIMER, at: now + ABORT_GRACE_MS },
  ]);
}

function onTimer(state: RoundLoopState, event: TimerEvent, now: number): Out {
  if (state.phase.name !== "running") return stay(state);
  switch (event.name) {
    case DEADLINE_TIMER:
      return onCancelled(state, CancelReason.timeout, now);
    case ABORT_GRACE_TIMER: {
      const { status, message } = cancelOf(state);
      state.round.abandonInFlight(status, `${message}; the executor did not confirm in time`);
      return finish(state, []);
    }
    case RECONCILE_TIMER: {
      const again: Command = { kind: "setTimer", name: RECONCILE_TIMER, at: now + RECONCILE_INTERVAL_MS };
      // One look-up at a time: while the results stream has no leader, one can outlast the interval.
      const resultIds = state.round.awaitedResultIds;
      if (state.reconciling || resultIds.length === 0) return stay(state, [again]);
      return stay({ ...state, reconciling: true }, [again, { kind: "lookUp", resultIds, reconcile: true }]);
    }
    default: {
      if (!event.name.startsWith(APPROVAL_TIMER_PREFIX)) return stay(state);
      const callId = event.name.slice(APPROVAL_TIMER_PREFIX.length);
      const ready = state.awaiting.get(callId);
      return ready ? stay(state, [{ kind: "expireApproval", callId, tool: ready.call.tool }]) : stay(state);
    }
  }
}

/** A failed publish of the round's own records or calls ends the run; look-ups and courtesy publishes do not. */
function onEffectFailed(state: RoundLoopState, command: RoundCommand, error: unknown): Out {
  switch (command.kind) {
    case "announce":
      return command.essential ? end(state, { kind: "failed", error }) : stay(state);
    case "lookUp":
      return stay(command.reconcile ? { ...state, reconciling: false } : state);
    case "closeSpeculation":
    case "publishEvent":
      return stay(state);
    default:
      return end(state, { kind: "failed", error });
  }
}

const STOP_TIMERS: Command[] = [DEADLINE_TIMER, ABORT_GRACE_TIMER, RECONCILE_TIMER].map((name) => ({
  kind: "clearTimer",
  name,
}));

/** Publishes the round's records: after the speculative calls no call took over are cancelled. */
function finish(state: RoundLoopState, commands: Command[]): Out {
  const { round, submit } = state;
  return stay({ ...state, phase: { name: "publishing" } }, [
    ...commands,
    ...STOP_TIMERS,
    ...(submit.speculation ? [{ kind: "closeSpeculation" } as const] : []),
    { kind: "publishDone", records: round.records(), rejected: round.rejection },
  ]);
}

function handBack(state: RoundLoopState, commands: Command[]): Out {
  return stay({ ...state, phase: { name: "handingBack" } }, [...commands, ...STOP_TIMERS, { kind: "handBack" }]);
}

function end(state: RoundLoopState, end: RoundEnd): Out {
  return stay({ ...state, phase: { name: "done", end } });
}

function announce(records: ToolCallRecord[], essential: boolean): Command[] {
  return records.length > 0 ? [{ kind: "announce", records, essential }] : [];
}

function cancelOf(state: RoundLoopState): {
  status: typeof CallStatus.cancelled | typeof CallStatus.timeout;
  message: string;
} {
  const status = state.cancel === CancelReason.timeout ? CallStatus.timeout : CallStatus.cancelled;
  return { status, message: describeCancel(state.cancel) };
}
