import {
  callMatchKey,
  CancelReason,
  EventType,
  SpeculationLedgerSchema,
  SpeculativeCallState,
  subjectToken,
  type SpeculationLedger,
  type SpeculativeCall,
} from "@toolformer/protocol";
import { KvCasStore, publishCallCancel, retryUntil, settleAll, type ActorContext } from "@toolformer/runtime";

/** A call the speculation engine would like to start, under its match key. */
export interface SpeculationCandidate {
  key: string;
  call: SpeculativeCall;
}

const EMPTY: SpeculationLedger = { ended: false, rounds: {} };
type Change<R> = { next?: SpeculationLedger; result: R };

const countCalls = (ledger: SpeculationLedger) =>
  Object.values(ledger.rounds).reduce((sum, round) => sum + Object.keys(round.calls).length, 0);

/**
 * Adds the candidates to a round that is still open, up to the request's budget of speculative calls;
 * returns those accepted (a match key already there is not started twice).
 */
export function registerCalls(
  ledger: SpeculationLedger,
  round: number,
  candidates: SpeculationCandidate[],
  maxPerRequest: number,
): Change<SpeculationCandidate[]> {
  const current = ledger.rounds[round] ?? { closed: false, calls: {} };
  if (ledger.ended || current.closed) return { result: [] };
  const calls = { ...current.calls };
  let room = maxPerRequest - countCalls(ledger);
  const accepted: SpeculationCandidate[] = [];
  for (const candidate of candidates) {
    if (room <= 0) break;
    if (calls[candidate.key]) continue;
    calls[candidate.key] = candidate.call;
    accepted.push(candidate);
    room--;
  }
  if (accepted.length === 0) return { result: [] };
  return { next: { ...ledger, rounds: { ...ledger.rounds, [round]: { closed: false, calls } } }, result: accepted };
}

/** The model's call `callId` takes over the running speculative call with the same match key, if any. */
export function claimCall(
  ledger: SpeculationLedger,
  round: number,
  key: string,
  callId: string,
): Change<SpeculativeCall | undefined> {
  const current = ledger.rounds[round];
  const call = current?.calls[key];
  if (!current || !call) return { result: undefined };
  // The same call asking again (a scheduler that took the round over) gets the same answer.
  if (call.state === SpeculativeCallState.claimed && call.claimedBy === callId) return { result: call };
  if (call.state !== SpeculativeCallState.running) return { result: undefined };
  const claimed: SpeculativeCall = { ...call, state: SpeculativeCallState.claimed, claimedBy: callId };
  const calls = { ...current.calls, [key]: claimed };
  return { next: { ...ledger, rounds: { ...ledger.rounds, [round]: { ...current, calls } } }, result: claimed };
}

/** Calls of the model claim at once (one compare-and-set for a batch); returns what each took over, by call id. */
export function claimCalls(
  ledger: SpeculationLedger,
  round: number,
  claims: { key: string; callId: string }[],
): Change<Map<string, SpeculativeCall>> {
  let current = ledger;
  const taken = new Map<string, SpeculativeCall>();
  for (const { key, callId } of claims) {
    const { next, result } = claimCall(current, round, key, callId);
    if (next) current = next;
    if (result) taken.set(callId, result);
  }
  return current === ledger ? { result: taken } : { next: current, result: taken };
}

/**
 * Closes rounds (or, with "all", the whole request): nothing more is started in them, and their running
 * speculative calls are missed, except those `keep` still expects a call of the model to claim (a call
 * whose arguments wait for another call's result). Returns the calls just missed, to cancel.
 */
export function closeRounds(
  ledger: SpeculationLedger,
  which: number | "all",
  keep: (key: string, call: SpeculativeCall) => boolean = () => false,
): Change<SpeculativeCall[]> {
  // A request that never speculated has nothing to close (and needs no entry written).
  if (which === "all" && Object.keys(ledger.rounds).length === 0) return { result: [] };
  const rounds = { ...ledger.rounds };
  if (which !== "all") rounds[which] ??= { closed: false, calls: {} };
  const missed: SpeculativeCall[] = [];
  let changed = which === "all" && !ledger.ended;
  for (const [round, entry] of Object.entries(rounds)) {
    if (which !== "all" && Number(round) !== which) continue;
    const before = missed.length;
    const calls = Object.fromEntries(
      Object.entries(entry.calls).map(([key, call]) => {
        if (call.state !== SpeculativeCallState.running || keep(key, call)) return [key, call];
        missed.push(call);
        return [key, { ...call, state: SpeculativeCallState.missed }];
      }),
    );
    changed ||= !entry.closed || missed.length > before || !ledger.rounds[round];
    rounds[round] = { closed: true, calls };
  }
  return changed ? { next: { ended: ledger.ended || which === "all", rounds }, result: missed } : { result: [] };
}

/**
 * The speculative calls of every request, one KV entry per request changed only by compare-and-set, so
 * a speculative call is either claimed by one of the model's calls or missed and cancelled, never both.
 * Every change is tried again while the bucket has no leader, until the request's `deadline`.
 */
export class SpeculationLedgerStore {
  readonly #store: KvCasStore;
  readonly #ctx: ActorContext;

  private constructor(store: KvCasStore, ctx: ActorContext) {
    this.#store = store;
    this.#ctx = ctx;
  }

  static async open(ctx: ActorContext): Promise<SpeculationLedgerStore> {
    const kv = ctx.kv.speculationCalls;
    if (!kv) throw new Error("the speculative calls bucket was not provisioned");
    return new SpeculationLedgerStore(await KvCasStore.open(ctx, kv), ctx);
  }

  register(
    requestId: string,
    round: number,
    candidates: SpeculationCandidate[],
    maxPerRequest: number,
    deadline?: number,
  ) {
    return this.#update(requestId, deadline, (ledger) => registerCalls(ledger, round, candidates, maxPerRequest));
  }

  /**
   * The speculative calls these calls of the model take over, by call id. Reads the stored entry
   * first: a claim must see every call registered so far.
   */
  claim(requestId: string, round: number, calls: { tool: string; args: unknown; callId: string }[], deadline?: number) {
    const claims = calls.map(({ tool, args, callId }) => ({ key: callMatchKey(tool, args), callId }));
    return this.#update(requestId, deadline, (ledger) => claimCalls(ledger, round, claims), true);
  }

  /** Closes rounds of the request (see `closeRounds`); each call missed is cancelled and announced. */
  async close(
    requestId: string,
    which: number | "all",
    traceparent: string,
    keep?: (key: string, call: SpeculativeCall) => boolean,
    deadline?: number,
  ): Promise<SpeculativeCall[]> {
    const missed = await this.#update(requestId, deadline, (ledger) => closeRounds(ledger, which, keep), true);
    const now = Date.now();
    // Misses of different calls need no order among them: one round trip for all, before the caller goes on.
    await settleAll(
      missed.map((call) => {
        const { callId, tool, round } = call.exec;
        publishCallCancel(this.#ctx.nc, { requestId, callId, tool, reason: CancelReason.speculation });
        return this.#ctx.events.publish(
          {
            type: EventType.speculationMiss,
            requestId,
            callId,
            tool,
            round,
            predictors: call.predictors,
            wastedMs: Math.max(0, now - call.startedAt),
          },
          traceparent,
          { giveUpAt: retryUntil(deadline ?? call.exec.deadline) },
        );
      }),
    );
    return missed;
  }

  /** `deadline`: the request's; without one, the store's default (MIN_RETRY_WINDOW_MS). */
  #update<R>(
    requestId: string,
    deadline: number | undefined,
    change: (ledger: SpeculationLedger) => Change<R>,
    readFirst = false,
  ): Promise<R> {
    return this.#store.update<SpeculationLedger, R>(
      subjectToken(requestId),
      EMPTY,
      (stored) => change(SpeculationLedgerSchema.parse(stored)),
      { readFirst, ...(deadline === undefined ? {} : { retry: { giveUpAt: retryUntil(deadline) } }) },
    );
  }
}
