import {
  callMatchKey,
  CallStatus,
  CancelReason,
  dependenciesOf,
  describeCancel,
  ErrorCode,
  planProblems,
  resolveReferences,
  Strategy,
  type ErrorBody,
  type PlannedCall,
  type RoundSubmit,
  type ToolCallRecord,
} from "@toolformer/protocol";

/** A call cleared to start, with its references replaced by the results they name. */
export interface ReadyCall {
  call: PlannedCall;
  args: unknown;
}

/**
 * The scheduler's view of one round: which calls wait, which run, which are done. Calls may name
 * other calls' results in their arguments (`$ref`, packages/protocol/src/references.ts): such a call
 * waits until every call it names has succeeded, and fails without running if one did not. Pure: the
 * actor feeds it results and cancellations and dispatches what `advance` hands out.
 */
export class RoundState {
  readonly #submit: RoundSubmit;
  readonly #calls: PlannedCall[] = [];
  readonly #pending: PlannedCall[] = [];
  readonly #inFlight = new Map<string, PlannedCall>();
  /** Running calls served by a speculative call: its id -> the model's call and its arguments. */
  readonly #adopted = new Map<string, { callId: string; args: unknown }>();
  readonly #records = new Map<string, ToolCallRecord>();
  /** The calls each call's arguments name. */
  readonly #needs = new Map<string, string[]>();
  #rejection: ErrorBody | undefined;
  /** Race groups already won in this round: group -> the call that won. */
  readonly #raceWinners = new Map<string, string>();
  /** Running calls that lost their race: the actor broadcasts a call cancel for each. */
  #toCancel: PlannedCall[] = [];
  /** Calls that ended without running since the last `advance` (a race lost while queued or before arriving). */
  #endedUnstarted: ToolCallRecord[] = [];
  #sealedTotal: number | undefined;
  readonly #refusedAtStart: ToolCallRecord[];

  /** `copyOf`: only for `clone`. */
  constructor(submit: RoundSubmit, copyOf?: RoundState) {
    this.#submit = submit;
    if (copyOf) {
      this.#refusedAtStart = copyOf.#refusedAtStart;
      this.#copy(copyOf);
      return;
    }
    this.#refusedAtStart = this.add(submit.calls);
    if (!submit.open) this.seal(submit.calls.length);
  }

  /**
   * An independent copy: the round loop machine steps on a copy, so a step never changes the state it
   * was given (records and calls are shared: they are never changed once made).
   */
  clone(): RoundState {
    return new RoundState(this.#submit, this);
  }

  #copy(from: RoundState): void {
    this.#calls.push(...from.#calls);
    this.#pending.push(...from.#pending);
    for (const [key, value] of from.#inFlight) this.#inFlight.set(key, value);
    for (const [key, value] of from.#adopted) this.#adopted.set(key, value);
    for (const [key, value] of from.#records) this.#records.set(key, value);
    for (const [key, value] of from.#needs) this.#needs.set(key, value);
    for (const [key, value] of from.#raceWinners) this.#raceWinners.set(key, value);
    this.#rejection = from.#rejection;
    this.#toCancel = [...from.#toCancel];
    this.#endedUnstarted = [...from.#endedUnstarted];
    this.#sealedTotal = from.#sealedTotal;
  }

  /** Why the round's plan was refused as a whole (a cycle, a reference to no call); nothing of it runs after. */
  get rejection(): ErrorBody | undefined {
    return this.#rejection;
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
      this.#needs.set(call.callId, dependenciesOf(call.args));
      const failure = refusal(call);
      const lost = failure ? undefined : this.#lostRace(call);
      if (failure) refused.push(this.#record(call, CallStatus.failed, failure));
      else if (lost) refused.push(this.#record(call, CallStatus.cancelled, lost));
      else this.#pending.push(call);
    }
    this.#checkPlanOnceComplete();
    return refused;
  }

  /** No call will be added after this; the round has `total` calls in all. */
  seal(total: number): void {
    this.#sealedTotal = total;
    this.#checkPlanOnceComplete();
  }

  /**
   * Moves the round on: calls whose plan was refused or whose dependencies failed fail without running
   * (`failed`), and calls that may start now under the strategy, `maxParallel` and their dependencies
   * are handed out (`start`); they count as in flight from here.
   */
  advance(): { start: ReadyCall[]; failed: ToolCallRecord[]; cancel: PlannedCall[] } {
    const failed = [...this.#endedUnstarted.splice(0), ...this.#failBlocked()];
    const start: ReadyCall[] = [];
    const maxParallel = this.#submit.maxParallel ?? Number.POSITIVE_INFINITY;
    while (this.#pending.length > 0 && this.#inFlight.size < maxParallel) {
      const index = this.#pending.findIndex((call) => this.#dependenciesMet(call) && this.#mayStart(call));
      if (index < 0) break;
      const [call] = this.#pending.splice(index, 1);
      if (!call) break;
      const args = this.#argumentsOf(call);
      if (!args.ok) {
        failed.push(this.#fail(call, CallStatus.failed, args.error), ...this.#failBlocked());
        continue;
      }
      this.#inFlight.set(call.callId, call);
      start.push({ call, args: args.value });
    }
    return { start, failed, cancel: this.#toCancel.splice(0) };
  }

  /**
   * A running call of the model is served by speculative call `speculativeCallId`: that call's result
   * will be this one's (marked speculative).
   */
  adopt(callId: string, speculativeCallId: string, args: unknown): void {
    if (this.#inFlight.has(callId)) this.#adopted.set(speculativeCallId, { callId, args });
  }

  /**
   * Records a finished call (a speculative one's result becomes the record of the call that adopted it);
   * returns the record kept, or undefined for a result it does not wait for (duplicate or foreign).
   */
  complete(result: ToolCallRecord): ToolCallRecord | undefined {
    const adopted = this.#adopted.get(result.id);
    const record = adopted ? { ...result, id: adopted.callId, args: adopted.args, speculative: true } : result;
    const call = this.#inFlight.get(record.id);
    if (!call || (!adopted && [...this.#adopted.values()].some((a) => a.callId === record.id))) return undefined;
    this.#inFlight.delete(record.id);
    if (adopted) this.#adopted.delete(result.id);
    this.#records.set(record.id, record);
    if (record.status === CallStatus.succeeded) this.#winRaces(call);
    return record;
  }

  /**
   * Whether a speculative call could still be taken over by a call of this round not started yet: one
   * of the same tool with the same arguments, or one of the tool whose arguments wait for a result.
   */
  mayStillClaim(tool: string, key: string): boolean {
    return this.#pending.some(
      (call) =>
        call.tool === tool &&
        call.toolInfo.readOnly &&
        (this.#needs.get(call.callId)!.length > 0 || callMatchKey(call.tool, call.args) === key),
    );
  }

  /** The id whose result a running call waits for: its own, or the speculative call's it adopted. */
  resultIdOf(callId: string): string {
    for (const [speculativeCallId, adopted] of this.#adopted) if (adopted.callId === callId) return speculativeCallId;
    return callId;
  }

  /** The records of the calls `call` names (undefined for one that has not ended yet). */
  #namedRecords(call: PlannedCall): (ToolCallRecord | undefined)[] {
    return this.#needs.get(call.callId)!.map((id) => this.#records.get(id));
  }

  /** The call's arguments with the results it names in place, or why it cannot have them. */
  #argumentsOf(call: PlannedCall): { ok: true; value: unknown } | { ok: false; error: ErrorBody } {
    const kept = this.#namedRecords(call).find((record) => record?.resultRef);
    if (kept?.resultRef) {
      const { bytes, name, bucket } = kept.resultRef;
      const message = `the result of ${kept.id} is ${bytes} bytes, kept as object ${name} in ${bucket}: too large to pass as arguments`;
      return { ok: false, error: { code: ErrorCode.PAYLOAD_TOO_LARGE, message } };
    }
    const resolved = resolveReferences(call.args, (callId) => this.#records.get(callId)?.result);
    return resolved.ok
      ? resolved
      : { ok: false, error: { code: ErrorCode.INVALID_ARGUMENTS, message: resolved.error } };
  }

  /** The race groups a call belongs to (by its tool). */
  #groupsOf(call: PlannedCall): string[] {
    return Object.entries(this.#submit.race).flatMap(([group, tools]) => (tools.includes(call.tool) ? [group] : []));
  }

  /** A call whose race group was already won before it could start ends cancelled. */
  #lostRace(call: PlannedCall): ErrorBody | undefined {
    const group = this.#groupsOf(call).find((g) => this.#raceWinners.has(g));
    if (group === undefined) return undefined;
    return {
      code: ErrorCode.CANCELLED,
      message: `${describeCancel(CancelReason.race)}: ${this.#raceWinners.get(group)} (${group})`,
    };
  }

  /** The winner's groups are decided: queued siblings end now, running ones are to be cancelled. */
  #winRaces(winner: PlannedCall): void {
    const won = this.#groupsOf(winner).filter((group) => !this.#raceWinners.has(group));
    if (won.length === 0) return;
    for (const group of won) this.#raceWinners.set(group, winner.callId);
    for (const call of [...this.#pending]) {
      const lost = this.#lostRace(call);
      if (lost) this.#endedUnstarted.push(this.#fail(call, CallStatus.cancelled, lost));
    }
    for (const call of this.#inFlight.values()) if (this.#lostRace(call)) this.#toCancel.push(call);
  }

  /** Refuses the whole plan, once every call is known, if it has a cycle or names a call that is not in it. */
  #checkPlanOnceComplete(): void {
    if (this.#rejection || this.#sealedTotal === undefined || this.#calls.length < this.#sealedTotal) return;
    const { dangling, cycles } = planProblems(this.#calls);
    if (cycles.length > 0) {
      this.#rejection = {
        code: ErrorCode.CYCLE_DETECTED,
        message: `the calls depend on each other in a cycle: ${cycles.map((cycle) => cycle.join(" -> ")).join("; ")}`,
        details: { cycles },
      };
    } else if (dangling.length > 0) {
      this.#rejection = {
        code: ErrorCode.INVALID_REQUEST,
        message: `calls name results of calls that are not in the plan: ${dangling.map((d) => `${d.callId} -> ${d.missing}`).join(", ")}`,
        details: { dangling },
      };
    }
  }

  /** Fails, without running, every waiting call whose plan was refused or whose dependency did not succeed. */
  #failBlocked(): ToolCallRecord[] {
    const failed: ToolCallRecord[] = [];
    if (this.#rejection) {
      for (const call of this.#pending.splice(0)) failed.push(this.#record(call, CallStatus.failed, this.#rejection));
      return failed;
    }
    for (let changed = true; changed;) {
      changed = false;
      for (const call of [...this.#pending]) {
        const broken = this.#namedRecords(call).find(
          (record) => record !== undefined && record.status !== CallStatus.succeeded,
        );
        if (!broken) continue;
        const error: ErrorBody = {
          code: ErrorCode.DEPENDENCY_FAILED,
          message: `${call.callId} needs the result of ${broken.id}, which ended ${broken.status}${broken.error ? ` (${broken.error.code})` : ""}`,
        };
        failed.push(this.#fail(call, CallStatus.failed, error));
        changed = true;
      }
    }
    return failed;
  }

  #dependenciesMet(call: PlannedCall): boolean {
    return this.#namedRecords(call).every((record) => record?.status === CallStatus.succeeded);
  }

  /** Takes a waiting call out of the line with a record of why it never ran. */
  #fail(call: PlannedCall, status: ToolCallRecord["status"], error: ErrorBody): ToolCallRecord {
    const index = this.#pending.indexOf(call);
    if (index >= 0) this.#pending.splice(index, 1);
    return this.#record(call, status, error);
  }

  #record(call: PlannedCall, status: ToolCallRecord["status"], error: ErrorBody): ToolCallRecord {
    const record = this.#unstarted(call, status, error);
    this.#records.set(call.callId, record);
    return record;
  }

  /** Drops every call not yet started; returns their records. */
  dropPending(status: typeof CallStatus.cancelled | typeof CallStatus.timeout, message: string): ToolCallRecord[] {
    const error: ErrorBody = { code: status === CallStatus.timeout ? ErrorCode.TIMEOUT : ErrorCode.CANCELLED, message };
    const dropped = this.#pending.splice(0).map((call) => this.#unstarted(call, status, error));
    for (const record of dropped) this.#records.set(record.id, record);
    return dropped;
  }

  /**
   * Takes back calls handed out but never sent to an executor (a cancel came while they were being
   * handed out): they end as never run; returns their records.
   */
  withdraw(
    callIds: string[],
    status: typeof CallStatus.cancelled | typeof CallStatus.timeout,
    message: string,
  ): ToolCallRecord[] {
    const error: ErrorBody = { code: status === CallStatus.timeout ? ErrorCode.TIMEOUT : ErrorCode.CANCELLED, message };
    const withdrawn: ToolCallRecord[] = [];
    for (const callId of callIds) {
      const call = this.#inFlight.get(callId);
      if (!call) continue;
      this.#inFlight.delete(callId);
      withdrawn.push(this.#record(call, status, error));
    }
    return withdrawn;
  }

  /**
   * Ends a call handed out but never sent to an executor (its approval was denied or expired) with a
   * record of why; returns it, or undefined when the call is not waiting to be sent.
   */
  endUnsent(callId: string, status: ToolCallRecord["status"], error: ErrorBody): ToolCallRecord | undefined {
    const call = this.#inFlight.get(callId);
    if (!call) return undefined;
    this.#inFlight.delete(callId);
    return this.#record(call, status, error);
  }

  /** Whether the call was handed out and has no record yet. */
  isInFlight(callId: string): boolean {
    return this.#inFlight.has(callId);
  }

  /** Gives up on calls still running (their executor never answered in time); returns their records. */
  abandonInFlight(status: typeof CallStatus.cancelled | typeof CallStatus.timeout, message: string): ToolCallRecord[] {
    const error: ErrorBody = { code: status === CallStatus.timeout ? ErrorCode.TIMEOUT : ErrorCode.CANCELLED, message };
    const abandoned = [...this.#inFlight.values()].map((call) => this.#unstarted(call, status, error));
    this.#inFlight.clear();
    for (const record of abandoned) this.#records.set(record.id, record);
    return abandoned;
  }

  /** The ids of the results the running calls wait for. */
  get awaitedResultIds(): string[] {
    return [...this.#inFlight.keys()].map((callId) => this.resultIdOf(callId));
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
      // In the model's order, except that a call goes after the calls it names.
      case Strategy.sequential:
        return this.#inFlight.size === 0 && call === this.#pending.find((p) => this.#dependenciesMet(p));
      // A read-only call changes nothing, so it may run beside anything and ahead of its turn; any other call
      // (idempotent or not, it changes something) waits for every earlier one of them and runs alone among them.
      case Strategy.hybrid: {
        if (call.toolInfo.readOnly) return true;
        const firstWriter = this.#pending.find((p) => !p.toolInfo.readOnly && this.#dependenciesMet(p));
        const writerRunning = [...this.#inFlight.values()].some((p) => !p.toolInfo.readOnly);
        return call === firstWriter && !writerRunning;
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
