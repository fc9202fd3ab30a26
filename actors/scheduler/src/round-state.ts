import {
  CallStatus,
  ErrorCode,
  Strategy,
  type ErrorBody,
  type PlannedCall,
  type RoundSubmit,
  type ToolCallRecord,
} from "@toolformer/protocol";

/**
 * The scheduler's view of one round: which calls wait, which run, which are done. Pure: the actor
 * feeds it results and cancellations and dispatches what `takeReady` hands out.
 */
export class RoundState {
  readonly #submit: RoundSubmit;
  readonly #calls: PlannedCall[] = [];
  readonly #pending: PlannedCall[] = [];
  readonly #inFlight = new Map<string, PlannedCall>();
  readonly #records = new Map<string, ToolCallRecord>();
  #sealedTotal: number | undefined;
  readonly #refusedAtStart: ToolCallRecord[];

  constructor(submit: RoundSubmit) {
    this.#submit = submit;
    this.#refusedAtStart = this.add(submit.calls);
    if (!submit.open) this.#sealedTotal = submit.calls.length;
  }

  /** Calls that failed before running (unknown tool, unreadable arguments) among those submitted first. */
  get refused(): ToolCallRecord[] {
    return this.#refusedAtStart;
  }

  /** More calls of an open round, in the model's order; returns those refused outright. */
  add(calls: PlannedCall[]): ToolCallRecord[] {
    const refused: ToolCallRecord[] = [];
    for (const call of calls) {
      if (this.#calls.some((known) => known.callId === call.callId)) continue; // a redelivered add
      this.#calls.push(call);
      const failure = refusal(call);
      if (!failure) {
        this.#pending.push(call);
        continue;
      }
      const record = this.#unstarted(call, CallStatus.failed, failure);
      this.#records.set(call.callId, record);
      refused.push(record);
    }
    return refused;
  }

  /** No call will be added after this; the round has `total` calls in all. */
  seal(total: number): void {
    this.#sealedTotal = total;
  }

  /** Calls that may start now under the strategy and `maxParallel`; they count as in flight from here. */
  takeReady(): PlannedCall[] {
    const ready: PlannedCall[] = [];
    while (this.#pending.length > 0 && this.#inFlight.size < this.#submit.maxParallel) {
      const index = this.#pending.findIndex((call) => this.#mayStart(call));
      if (index < 0) break;
      const [call] = this.#pending.splice(index, 1);
      if (!call) break;
      this.#inFlight.set(call.callId, call);
      ready.push(call);
    }
    return ready;
  }

  /** Records a finished call; returns false for a call it does not wait for (duplicate or foreign). */
  complete(record: ToolCallRecord): boolean {
    if (!this.#inFlight.delete(record.id)) return false;
    this.#records.set(record.id, record);
    return true;
  }

  /** Drops every call not yet started; returns their records. */
  dropPending(status: typeof CallStatus.cancelled | typeof CallStatus.timeout, message: string): ToolCallRecord[] {
    const error: ErrorBody = { code: status === CallStatus.timeout ? ErrorCode.TIMEOUT : ErrorCode.CANCELLED, message };
    const dropped = this.#pending.splice(0).map((call) => this.#unstarted(call, status, error));
    for (const record of dropped) this.#records.set(record.id, record);
    return dropped;
  }

  /** Gives up on calls still running (their executor never answered in time); returns their records. */
  abandonInFlight(status: typeof CallStatus.cancelled | typeof CallStatus.timeout, message: string): ToolCallRecord[] {
    const error: ErrorBody = { code: status === CallStatus.timeout ? ErrorCode.TIMEOUT : ErrorCode.CANCELLED, message };
    const abandoned = [...this.#inFlight.values()].map((call) => this.#unstarted(call, status, error));
    this.#inFlight.clear();
    for (const record of abandoned) this.#records.set(record.id, record);
    return abandoned;
  }

  get inFlightIds(): string[] {
    return [...this.#inFlight.keys()];
  }

  /** Sealed, every call known, and none waiting or running. */
  get done(): boolean {
    return (
      this.#sealedTotal !== undefined &&
      this.#calls.length >= this.#sealedTotal &&
      this.#pending.length === 0 &&
      this.#inFlight.size === 0
    );
  }

  /** Whether more calls may still arrive; a cancel or deadline stops waiting for them. */
  get open(): boolean {
    return this.#sealedTotal === undefined;
  }

  /** Every call's record, in the order the model asked for them. */
  records(): ToolCallRecord[] {
    return this.#calls.flatMap((call) => {
      const record = this.#records.get(call.callId);
      return record ? [record] : [];
    });
  }

  #mayStart(call: PlannedCall): boolean {
    switch (this.#submit.strategy) {
      case Strategy.parallel:
        return true;
      case Strategy.sequential:
        return this.#inFlight.size === 0 && call === this.#pending[0];
      case Strategy.hybrid: {
        if (call.toolInfo.idempotent) return true;
        // A call with side effects waits for every earlier one with side effects, and runs alone among them.
        const firstSideEffect = this.#pending.find((p) => !p.toolInfo.idempotent);
        const sideEffectRunning = [...this.#inFlight.values()].some((p) => !p.toolInfo.idempotent);
        return call === firstSideEffect && !sideEffectRunning;
      }
    }
  }

  #unstarted(call: PlannedCall, status: ToolCallRecord["status"], error: ErrorBody): ToolCallRecord {
    return {
      id: call.callId,
      tool: call.tool,
      args: call.args,
      status,
      error,
      round: this.#submit.round,
      startedAt: null,
      durationMs: 0,
      speculative: false,
    };
  }
}

function refusal(call: PlannedCall): ErrorBody | undefined {
  if (!call.toolInfo.known) return { code: ErrorCode.UNKNOWN_TOOL, message: `there is no tool named ${call.tool}` };
  if (call.argsError) return { code: ErrorCode.INVALID_ARGUMENTS, message: call.argsError };
  return undefined;
}
