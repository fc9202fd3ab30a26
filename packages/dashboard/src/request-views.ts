import { dependenciesOf, EventType, tenantOfRequestId, type OrchestrateEvent } from "@toolformer/protocol";

/** One model turn of a request, as its events tell it. */
export interface TurnView {
  round: number;
  requestedAt: number;
  respondedAt?: number;
  toolCalls?: number;
  inputTokens?: number;
  outputTokens?: number;
}

/** A call's wait for a person's decision (docs/protocol.md#approvals), and the decision once made. */
export interface ApprovalView {
  /** When it began to wait (`tool.awaiting_approval`), and when it stops waiting and fails. */
  requestedAt: number;
  expiresAt?: number;
  /** Absent while it waits. */
  decision?: "approved" | "denied" | "expired";
  decidedAt?: number;
  reason?: string;
  /** The approver changed the arguments it runs with. */
  edited?: boolean;
}

/** One call: the model's, or one the speculation engine started on a guess. */
export interface CallView {
  callId: string;
  tool: string;
  round: number;
  /** Calls whose results its arguments take (`$ref`). */
  dependsOn: string[];
  args?: unknown;
  scheduledAt?: number;
  startedAt?: number;
  endedAt?: number;
  outcome?: "completed" | "failed" | "timeout" | "cancelled";
  result?: unknown;
  error?: string;
  attempt?: number;
  executor?: string;
  /** `guess`: started by the speculation engine; `hit`: the model's call took it over; `miss`: never asked for. */
  speculation?: "guess" | "hit" | "miss";
  /** The last partial result the tool reported while running, and how many it has reported. */
  progress?: unknown;
  progressCount?: number;
  /** Present for a call that waited, or waits, for approval. */
  approval?: ApprovalView;
  /** Its result came from the result cache (or an identical call's run), not from running its tool. */
  cached?: boolean;
}

export interface RequestView {
  requestId: string;
  /** The tenant account it came through (ADR 0017), read from its id. */
  tenant?: string;
  model?: string;
  /** `running` until `request.completed` says how it ended. */
  status: string;
  acceptedAt?: number;
  endedAt?: number;
  lastEventAt: number;
  rounds: number;
  inputTokens: number;
  outputTokens: number;
  error?: string;
  turns: TurnView[];
  calls: CallView[];
}

/** How many requests the views keep: the oldest by last event go first. */
export const DEFAULT_MAX_REQUESTS = 500;

/**
 * Folds the public events of many requests into one view per request: its status, turns and calls
 * with their times, dependencies and speculation. Pure; events may come in any order per request
 * (each one only sets what it knows) and repeats change nothing.
 */
export class RequestViews {
  readonly #views = new Map<string, RequestView>();
  readonly #maxRequests: number;

  constructor(maxRequests = DEFAULT_MAX_REQUESTS) {
    this.#maxRequests = maxRequests;
  }

  /** Applies one event; returns the request's view after it. */
  apply(event: OrchestrateEvent): RequestView {
    const view = this.#views.get(event.requestId) ?? this.#create(event.requestId);
    view.lastEventAt = Math.max(view.lastEventAt, event.at);
    applyTo(view, event);
    return view;
  }

  get(requestId: string): RequestView | undefined {
    return this.#views.get(requestId);
  }

  /** Newest first. */
  list(): RequestView[] {
    return [...this.#views.values()].sort((a, b) => (b.acceptedAt ?? b.lastEventAt) - (a.acceptedAt ?? a.lastEventAt));
  }

  #create(requestId: string): RequestView {
    if (this.#views.size >= this.#maxRequests) {
      const oldest = [...this.#views.values()].reduce((a, b) => (a.lastEventAt <= b.lastEventAt ? a : b));
      this.#views.delete(oldest.requestId);
    }
    const tenant = tenantOfRequestId(requestId);
    const view: RequestView = {
      requestId,
      ...(tenant === undefined ? {} : { tenant }),
      status: "running",
      lastEventAt: 0,
      rounds: 0,
      inputTokens: 0,
      outputTokens: 0,
      turns: [],
      calls: [],
    };
    this.#views.set(requestId, view);
    return view;
  }
}

function callOf(view: RequestView, event: { callId: string; tool: string; round: number }): CallView {
  let call = view.calls.find((c) => c.callId === event.callId);
  if (!call) {
    call = { callId: event.callId, tool: event.tool, round: event.round, dependsOn: [] };
    view.calls.push(call);
  }
  return call;
}

function turnOf(view: RequestView, round: number, at: number): TurnView {
  let turn = view.turns.find((t) => t.round === round);
  if (!turn) {
    turn = { round, requestedAt: at };
    view.turns.push(turn);
    view.turns.sort((a, b) => a.round - b.round);
  }
  return turn;
}

function applyTo(view: RequestView, event: OrchestrateEvent): void {
  switch (event.type) {
    case EventType.requestAccepted:
      view.model = event.model;
      view.acceptedAt = event.at;
      return;
    case EventType.modelRequested:
      turnOf(view, event.round, event.at).requestedAt = event.at;
      view.rounds = Math.max(view.rounds, event.round);
      return;
    case EventType.modelResponded: {
      const turn = turnOf(view, event.round, event.at - event.durationMs);
      if (turn.respondedAt !== undefined) return;
      turn.respondedAt = event.at;
      turn.toolCalls = event.toolCalls;
      turn.inputTokens = event.usage?.inputTokens;
      turn.outputTokens = event.usage?.outputTokens;
      view.inputTokens += event.usage?.inputTokens ?? 0;
      view.outputTokens += event.usage?.outputTokens ?? 0;
      return;
    }
    case EventType.toolScheduled: {
      const call = callOf(view, event);
      call.scheduledAt ??= event.at;
      call.args = event.args;
      // Scheduled arguments carry the results in place of the `$ref`s; the plan's references come apart.
      call.dependsOn = event.dependsOn ?? dependenciesOf(event.args);
      return;
    }
    case EventType.toolAwaitingApproval: {
      const call = callOf(view, event);
      call.args ??= event.args;
      // A decision that came first is kept: the events of one request may arrive in any order.
      const requestedAt = Math.min(call.approval?.requestedAt ?? event.at, event.at);
      call.approval = { ...call.approval, requestedAt, expiresAt: event.expiresAt };
      return;
    }
    case EventType.toolApprovalDecided: {
      const call = callOf(view, event);
      call.approval = {
        requestedAt: call.approval?.requestedAt ?? event.at,
        ...call.approval,
        decision: event.decision,
        decidedAt: event.at,
        edited: event.edited,
        ...(event.reason === undefined ? {} : { reason: event.reason }),
      };
      return;
    }
    case EventType.toolStarted: {
      const call = callOf(view, event);
      call.startedAt ??= event.at;
      call.attempt = event.attempt;
      call.executor = event.executor;
      return;
    }
    case EventType.toolProgress: {
      const call = callOf(view, event);
      // Progress may arrive out of order: the highest sequence number is the latest.
      if (event.seq < (call.progressCount ?? 0)) return;
      call.progress = event.partial;
      call.progressCount = event.seq;
      return;
    }
    case EventType.toolCompleted: {
      const call = callOf(view, event);
      call.endedAt = event.at;
      call.outcome = "completed";
      call.result = event.result;
      call.startedAt ??= event.at - event.durationMs;
      if (event.cached) call.cached = true;
      return;
    }
    case EventType.toolFailed: {
      const call = callOf(view, event);
      call.endedAt = event.at;
      call.outcome = event.status;
      call.error = `${event.error.code}: ${event.error.message}`;
      return;
    }
    case EventType.toolCancelled: {
      const call = callOf(view, event);
      call.endedAt ??= event.at;
      call.outcome = "cancelled";
      return;
    }
    case EventType.requestCompleted:
      view.status = event.status;
      view.endedAt = event.at;
      view.rounds = Math.max(view.rounds, event.rounds);
      if (event.error) view.error = `${event.error.code}: ${event.error.message}`;
      return;
    case EventType.speculationStarted: {
      const call = callOf(view, event);
      call.speculation ??= "guess";
      call.args = event.args;
      call.startedAt ??= event.at;
      return;
    }
    case EventType.speculationHit: {
      const guess = view.calls.find((c) => c.callId === event.speculativeCallId);
      if (guess) guess.speculation = "hit";
      return;
    }
    case EventType.speculationMiss: {
      const call = callOf(view, event);
      call.speculation = "miss";
      call.endedAt ??= event.at;
      return;
    }
  }
}
