import {
  CallStatus,
  CancelReason,
  describeCancel,
  ErrorCode,
  EventType,
  recordedRequest,
  RequestStatus,
  type ErrorBody,
  type OrchestrateEventDraft,
  type PlannedCall,
  type RequestRun,
  type ToolCallRecord,
  type ToolDefinition,
  type TurnRecord,
} from "@toolformer/protocol";
import type { ConversationMessage, ModelToolCall, ModelTurn } from "@toolformer/providers";
import type { Machine, Step, TimerCommand, TimerEvent } from "@toolformer/runtime";
import { appendRound, initialConversation, planCall, planTakingOver, type CallNaming } from "./conversation.ts";
import type { LoopOutcome } from "./reply.ts";

/** After a cancel, how long to wait for the scheduler's account of the round before writing it ourselves. */
export const ROUND_ABORT_GRACE_MS = 2_500;

/** What the loop of one request knows that never changes while it runs. */
export interface LoopSetup {
  requestId: string;
  /** A replay's has no conversation: its turns are recorded ones (ADR 0027). */
  request: RequestRun["request"];
  deadline: number;
  /** This run of the request (a dispatcher copy, one delivery), written into the turns it records. */
  runner: string;
  /** The tools the model is offered, by name (the catalog at the start). */
  catalog: ReadonlyMap<string, ToolDefinition>;
}

/** The scheduler's record of every call of a round, and why its plan was refused if it was. */
export interface RoundOutcome {
  calls: ToolCallRecord[];
  rejected?: ErrorBody | undefined;
}

export type LoopEvent =
  /** The loop starts; `takeover`: another dispatcher ran the request before, so its progress is read first. */
  | { type: "started"; takeover: boolean }
  /** A takeover's reading of one round's progress: its recorded turn, and the calls handed to it. */
  | { type: "progressRead"; round: number; turn?: TurnRecord | undefined; handed: PlannedCall[] }
  /** Early dispatch: the model finished writing one call while it writes on. */
  | { type: "callStreamed"; round: number; call: ModelToolCall }
  | { type: "modelAnswered"; round: number; answer: ModelTurn }
  | { type: "modelFailed"; round: number; error: ErrorBody }
  /** The turn that stands recorded for the round (another dispatcher's, if it recorded first). */
  | { type: "turnRecorded"; turn: TurnRecord }
  /** The round's records, with what the model is shown of results kept in the object store. */
  | { type: "roundDone"; round: number; outcome: RoundOutcome; spilled: ReadonlyMap<string, string> }
  /** The client cancelled, or the deadline passed (reason `timeout`). */
  | { type: "cancelled"; reason: CancelReason }
  /** This copy is stopping: hand the request back at the next recorded step. */
  | { type: "stopping" }
  /** Something the loop relies on failed for good (a store unreachable until the deadline). */
  | { type: "failed"; error: ErrorBody };

export type LoopCommand =
  | { kind: "readProgress"; round: number }
  | { kind: "askModel"; round: number; messages: ConversationMessage[]; earlyDispatch: boolean }
  /** Stop the model turn in flight (a cancel): its failure comes back as `modelFailed`. */
  | { kind: "abortModel" }
  /** Early dispatch: one call to the round now; `handedBefore` calls are in it already. */
  | { kind: "handCall"; round: number; call: PlannedCall; handedBefore: number }
  | { kind: "recordTurn"; turn: TurnRecord }
  /** Hand the round's remaining calls on (sealing it) and wait for the scheduler's records. */
  | { kind: "finishRound"; round: number; calls: PlannedCall[]; handed: PlannedCall[] }
  | { kind: "publishEvent"; event: OrchestrateEventDraft }
  /** Everyone working on the request stops: the deadline is broadcast like a cancel. */
  | { kind: "broadcastTimeout" }
  | { kind: "roundFinished"; records: ToolCallRecord[] };

export const DEADLINE_TIMER = "deadline";
export const ROUND_GRACE_TIMER = "round-abort-grace";

/** A call handed on while the model was still writing, under the id the model gave it. */
interface EarlyCall {
  modelId: string;
  call: PlannedCall;
}

type Phase =
  | { name: "idle" }
  | { name: "reading"; round: number }
  | { name: "asking"; round: number; startedAt: number; handed: PlannedCall[]; early: EarlyCall[] }
  | { name: "recording"; round: number; handed: PlannedCall[] }
  | { name: "inRound"; round: number; startedAt: number; turn: TurnRecord }
  | { name: "done"; result: LoopResult };

/** The loop stopped at a recorded step because its copy is stopping; another dispatcher goes on from there. */
export const HANDED_BACK = "handedBack" as const;
/** Another run of the request recorded a turn first: this run's lease lapsed, and that run goes on. */
export const SUPERSEDED = "superseded" as const;

export interface LoopState {
  readonly setup: LoopSetup;
  readonly phase: Phase;
  readonly takeover: boolean;
  readonly conversation: ConversationMessage[];
  /** Every call id given in the request so far (new calls never reuse one). */
  readonly usedIds: readonly string[];
  /** The model's ids renamed in the current turn (references in the turn follow them). */
  readonly renamed: ReadonlyMap<string, string>;
  readonly toolCalls: ToolCallRecord[];
  readonly usage: Required<LoopOutcome["usage"]>;
  readonly modelMs: number;
  readonly toolsMs: number;
  readonly rounds: number;
  readonly cancel?: CancelReason | undefined;
  readonly stopping: boolean;
}

export function initialLoopState(setup: LoopSetup): LoopState {
  return {
    setup,
    phase: { name: "idle" },
    takeover: false,
    conversation: initialConversation(setup.request),
    usedIds: [],
    renamed: new Map(),
    toolCalls: [],
    usage: { inputTokens: 0, outputTokens: 0, totalTokens: 0, rounds: [] },
    modelMs: 0,
    toolsMs: 0,
    rounds: 0,
    stopping: false,
  };
}

export type LoopResult = LoopOutcome | typeof HANDED_BACK | typeof SUPERSEDED;

/** What the loop ended with, once it has. */
export function loopResult(state: LoopState): LoopResult | undefined {
  return state.phase.name === "done" ? state.phase.result : undefined;
}

type Command = LoopCommand | TimerCommand;
type Out = Step<LoopState, LoopCommand>;
const stay = (state: LoopState, commands: Command[] = []): Out => ({ state, commands });

/**
 * The model loop of one request: ask the model, record its turn, hand its calls to the scheduler as a
 * round, feed the results back, until the model answers, the round budget is spent, the request is
 * cancelled or its deadline passes. A turn is recorded before its calls are handed on, so a takeover
 * replays recorded turns and finished rounds instead of asking the model again: only a turn that was in
 * flight is asked again, and it takes over the calls its first asking handed on.
 */
export const modelLoop: Machine<LoopState, LoopEvent, LoopCommand> = {
  isFinal: (state) => state.phase.name === "done",
  step(state, event, now) {
    switch (event.type) {
      case "started": {
        const next = nextRound({ ...state, takeover: event.takeover }, 1, now);
        const deadline: Command = { kind: "setTimer", name: DEADLINE_TIMER, at: state.setup.deadline };
        return { state: next.state, commands: [deadline, ...next.commands] };
      }
      case "progressRead":
        return onProgressRead(state, event, now);
      case "callStreamed":
        return onCallStreamed(state, event);
      case "modelAnswered":
        return onModelAnswered(state, event, now);
      case "modelFailed":
        if (state.phase.name !== "asking" || state.phase.round !== event.round) return stay(state);
        return finish(state, state.cancel ? cancelledOutcome(state) : failedOutcome(state, event.error));
      case "turnRecorded":
        return onTurnRecorded(state, event.turn, now);
      case "roundDone":
        return onRoundDone(state, event, now);
      case "cancelled":
        return onCancelled(state, event.reason, now);
      case "stopping": {
        const stopping = { ...state, stopping: true };
        // A running round goes on at the scheduler; the next dispatcher waits for it. A model turn in
        // flight is let finish and recorded first, so no turn is asked twice.
        return state.phase.name === "inRound" ? finish(stopping, HANDED_BACK) : stay(stopping);
      }
      case "failed":
        return finish(state, state.cancel ? cancelledOutcome(state) : failedOutcome(state, event.error));
      case "timer":
        return onTimer(state, event, now);
    }
  },
};

/** Goes on at `round`: reads its progress on a takeover, asks the model otherwise. */
function nextRound(state: LoopState, round: number, now: number): Out {
  const { maxRounds } = state.setup.request.options;
  if (round > maxRounds) {
    const error = {
      code: ErrorCode.MAX_ROUNDS_EXCEEDED,
      message: `the model still asked for tools after ${maxRounds} rounds`,
    };
    return finish(state, failedOutcome(state, error));
  }
  const ready = { ...state, renamed: new Map<string, string>() };
  if (state.takeover) return stay({ ...ready, phase: { name: "reading", round } }, [{ kind: "readProgress", round }]);
  return ask(ready, round, [], now);
}

function ask(state: LoopState, round: number, handed: PlannedCall[], now: number): Out {
  if (state.cancel) return finish(state, cancelledOutcome(state));
  if (state.stopping) return finish(state, HANDED_BACK);
  const { request, requestId } = state.setup;
  return stay({ ...state, phase: { name: "asking", round, startedAt: now, handed, early: [] } }, [
    { kind: "publishEvent", event: { type: EventType.modelRequested, requestId, round } },
    {
      kind: "askModel",
      round,
      messages: state.conversation,
      // A turn asked again after its dispatcher died may have handed calls on: they are matched afterwards.
      earlyDispatch: request.options.earlyDispatch && handed.length === 0,
    },
  ]);
}

function onProgressRead(state: LoopState, event: Extract<LoopEvent, { type: "progressRead" }>, now: number): Out {
  if (state.phase.name !== "reading" || state.phase.round !== event.round) return stay(state);
  if (!event.turn) return ask(state, event.round, event.handed, now);
  const usedIds = [...state.usedIds, ...event.turn.planned.map((call) => call.callId)];
  return afterTurn({ ...state, usedIds }, event.turn, event.handed, now);
}

function naming(state: LoopState): CallNaming {
  return { used: new Set(state.usedIds), renamed: new Map(state.renamed) };
}

function named(state: LoopState, names: CallNaming): LoopState {
  return { ...state, usedIds: [...names.used], renamed: names.renamed };
}

function onCallStreamed(state: LoopState, event: Extract<LoopEvent, { type: "callStreamed" }>): Out {
  const phase = state.phase;
  if (phase.name !== "asking" || phase.round !== event.round) return stay(state);
  const names = naming(state);
  const call = planCall(event.call, phase.early.length, event.round, state.setup.catalog, names);
  const early = [...phase.early, { modelId: event.call.id, call }];
  return stay({ ...named(state, names), phase: { ...phase, early } }, [
    { kind: "handCall", round: event.round, call, handedBefore: phase.handed.length + phase.early.length },
  ]);
}

function onModelAnswered(state: LoopState, event: Extract<LoopEvent, { type: "modelAnswered" }>, now: number): Out {
  const phase = state.phase;
  if (phase.name !== "asking" || phase.round !== event.round) return stay(state);
  const { answer, round } = event;
  const names = naming(state);
  const planned =
    phase.handed.length > 0
      ? planTakingOver(answer.toolCalls, phase.handed, round, state.setup.catalog, names)
      : answer.toolCalls.map(
          (call, index) =>
            phase.early.find((early) => early.modelId === call.id)?.call ??
            planCall(call, index, round, state.setup.catalog, names),
        );
  const turn: TurnRecord = {
    requestId: state.setup.requestId,
    round,
    ...(answer.text === undefined ? {} : { text: answer.text }),
    toolCalls: answer.toolCalls,
    usage: answer.usage,
    stopReason: answer.stopReason,
    planned,
    modelMs: now - phase.startedAt,
    recordedBy: state.setup.runner,
    // What a replay of the request needs of it, kept with its first turn (ADR 0027).
    ...(round === 1 ? { request: recordedRequest(state.setup.request) } : {}),
  };
  const handed = [...phase.handed, ...phase.early.map((early) => early.call)];
  return stay({ ...named(state, names), phase: { name: "recording", round, handed } }, [{ kind: "recordTurn", turn }]);
}

function onTurnRecorded(state: LoopState, turn: TurnRecord, now: number): Out {
  const phase = state.phase;
  if (phase.name !== "recording" || phase.round !== turn.round) return stay(state);
  // Two runs of one request at once (a lease lapsed while a node was down): the first turn recorded
  // wins, and the other run stops without a word, so no turn or reply comes from both.
  if (turn.recordedBy !== state.setup.runner) return finish(state, SUPERSEDED);
  const responded: Command = {
    kind: "publishEvent",
    event: {
      type: EventType.modelResponded,
      requestId: state.setup.requestId,
      round: turn.round,
      toolCalls: turn.toolCalls.length,
      durationMs: turn.modelMs,
      usage: turn.usage,
    },
  };
  const next = afterTurn(state, turn, phase.handed, now);
  return { state: next.state, commands: [responded, ...next.commands] };
}

/** A turn is known (asked and recorded, or replayed): answer, or run its round. */
function afterTurn(state: LoopState, turn: TurnRecord, handed: PlannedCall[], now: number): Out {
  const counted: LoopState = {
    ...state,
    modelMs: state.modelMs + turn.modelMs,
    usage: {
      inputTokens: state.usage.inputTokens + turn.usage.inputTokens,
      outputTokens: state.usage.outputTokens + turn.usage.outputTokens,
      totalTokens: state.usage.totalTokens + turn.usage.inputTokens + turn.usage.outputTokens,
      rounds: [...state.usage.rounds, { round: turn.round, ...turn.usage }],
    },
  };
  if (state.cancel) return finish(counted, cancelledOutcome(counted));
  if (turn.toolCalls.length === 0)
    return finish(counted, outcome(counted, RequestStatus.completed, { answer: turn.text ?? "" }));
  const inRound: LoopState = {
    ...counted,
    rounds: turn.round,
    phase: { name: "inRound", round: turn.round, startedAt: now, turn },
  };
  if (state.stopping) return finish(inRound, HANDED_BACK);
  return stay(inRound, [{ kind: "finishRound", round: turn.round, calls: turn.planned, handed }]);
}

function onRoundDone(state: LoopState, event: Extract<LoopEvent, { type: "roundDone" }>, now: number): Out {
  const phase = state.phase;
  if (phase.name !== "inRound" || phase.round !== event.round) return stay(state);
  // Calls of an abandoned turn that the turn asked again did not take over ran, but are not its calls.
  const plannedIds = new Set(phase.turn.planned.map((call) => call.callId));
  const records = event.outcome.calls.filter((record) => plannedIds.has(record.id));
  const ran: LoopState = {
    ...state,
    toolsMs: state.toolsMs + (now - phase.startedAt),
    toolCalls: [...state.toolCalls, ...records],
  };
  const commands: Command[] = [
    { kind: "clearTimer", name: ROUND_GRACE_TIMER },
    { kind: "roundFinished", records },
  ];
  if (state.cancel) return withCommands(commands, finish(ran, cancelledOutcome(ran)));
  if (event.outcome.rejected) return withCommands(commands, finish(ran, failedOutcome(ran, event.outcome.rejected)));
  const conversation = appendRound(state.conversation, phase.turn, phase.turn.planned, records, event.spilled);
  return withCommands(commands, nextRound({ ...ran, conversation }, phase.round + 1, now));
}

function onCancelled(state: LoopState, reason: CancelReason, now: number): Out {
  if (state.cancel) return stay(state);
  const cancelled = { ...state, cancel: reason };
  switch (state.phase.name) {
    case "asking":
      return stay(cancelled, [{ kind: "abortModel" }]);
    case "inRound":
      // The scheduler writes the round's records after a cancel; if it does not in time, they are written here.
      return stay(cancelled, [{ kind: "setTimer", name: ROUND_GRACE_TIMER, at: now + ROUND_ABORT_GRACE_MS }]);
    case "idle":
    case "reading":
    case "recording":
      return stay(cancelled); // the next step sees the cancel
    case "done":
      return stay(state);
  }
}

function onTimer(state: LoopState, event: TimerEvent, now: number): Out {
  if (event.name === DEADLINE_TIMER)
    return withCommands([{ kind: "broadcastTimeout" }], onCancelled(state, CancelReason.timeout, now));
  const phase = state.phase;
  if (event.name !== ROUND_GRACE_TIMER || phase.name !== "inRound") return stay(state);
  const records = unconfirmed(phase.turn.planned, phase.round, state.cancel);
  const ran = { ...state, toolCalls: [...state.toolCalls, ...records] };
  return withCommands([{ kind: "roundFinished", records }], finish(ran, cancelledOutcome(ran)));
}

function withCommands(first: Command[], out: Out): Out {
  return { state: out.state, commands: [...first, ...out.commands] };
}

function finish(state: LoopState, result: LoopResult): Out {
  return stay({ ...state, phase: { name: "done", result } });
}

function outcome(
  state: LoopState,
  status: LoopOutcome["status"],
  extra: { answer?: string; error?: ErrorBody } = {},
): LoopOutcome {
  const { toolCalls, rounds, usage, modelMs, toolsMs } = state;
  return { status, toolCalls, rounds, usage, modelMs, toolsMs, ...extra };
}

export function failedOutcome(state: LoopState, error: ErrorBody): LoopOutcome {
  return outcome(state, RequestStatus.failed, { error });
}

function cancelledOutcome(state: LoopState): LoopOutcome {
  if (state.cancel === CancelReason.timeout) {
    const message = `the request did not finish within ${state.setup.request.options.timeoutMs} ms`;
    return outcome(state, RequestStatus.timeout, { error: { code: ErrorCode.TIMEOUT, message } });
  }
  const message = describeCancel(CancelReason.client);
  return outcome(state, RequestStatus.cancelled, { error: { code: ErrorCode.CANCELLED, message } });
}

/** Records for a round the scheduler never confirmed after a cancel: none of its calls is reported as succeeded. */
function unconfirmed(calls: PlannedCall[], round: number, reason: CancelReason | undefined): ToolCallRecord[] {
  const timedOut = reason === CancelReason.timeout;
  return calls.map((call) => ({
    id: call.callId,
    tool: call.tool,
    args: call.args,
    status: timedOut ? CallStatus.timeout : CallStatus.cancelled,
    error: {
      code: timedOut ? ErrorCode.TIMEOUT : ErrorCode.CANCELLED,
      message: "the round was stopped before the scheduler confirmed this call",
    },
    round,
    startedAt: null,
    durationMs: 0,
    speculative: false,
  }));
}
