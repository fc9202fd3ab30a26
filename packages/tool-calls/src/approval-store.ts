import {
  approvalKey,
  ApprovalRecordSchema,
  ApprovalState,
  type ApprovalRecord,
  type DecidedApproval,
} from "@toolformer/protocol";
import {
  decodeValidated,
  followKv,
  KvCasStore,
  type ActorContext,
  type KvFollower,
  type Logger,
  type RetryOptions,
} from "@toolformer/runtime";

type ApprovalsBucket = NonNullable<ActorContext["kv"]["approvals"]>;

/** How often a waiting call reads its approval itself, besides watching it (a silent watch, `followKv`). */
const APPROVAL_POLL_MS = 2_000;

export type WaitingApproval = Extract<ApprovalRecord, { state: "waiting" }>;

/** What a decision found: it was applied, or another one came first (and holds), or no call waits. */
export type DecideOutcome =
  | { kind: "applied"; record: DecidedApproval }
  | { kind: "alreadyDecided"; record: DecidedApproval }
  | { kind: "notWaiting" };

/**
 * The approvals of waiting calls in KV (`tf_approvals`, docs/adr/0024). Every write is a compare-and-set
 * on the stored value (`KvCasStore`, which stays correct on clustered 2.9 servers), so a call is asked
 * about once and decided once: the first decision wins, and a decision sent again, by a client or by a
 * scheduler that took the round over, changes nothing.
 */
export class ApprovalStore {
  readonly #kv: ApprovalsBucket;
  readonly #cas: KvCasStore;

  private constructor(kv: ApprovalsBucket, cas: KvCasStore) {
    this.#kv = kv;
    this.#cas = cas;
  }

  static async open(ctx: Pick<ActorContext, "nc" | "js" | "jsm" | "kv">): Promise<ApprovalStore> {
    const kv = ctx.kv.approvals;
    if (!kv) throw new Error("the approvals bucket is not bound");
    return new ApprovalStore(kv, await KvCasStore.open(ctx, kv));
  }

  /** The call's approval as stored now; undefined when none is. */
  async get(requestId: string, callId: string): Promise<ApprovalRecord | undefined> {
    const entry = await this.#kv.get(approvalKey(requestId, callId));
    if (!entry || entry.operation !== "PUT") return undefined;
    const record = decodeValidated(entry.value, undefined, ApprovalRecordSchema, "msgpack");
    return record.ok ? record.value : undefined;
  }

  /** Records that the call waits, unless its approval exists already (a round taken over); returns what is stored. */
  request(requestId: string, callId: string, waiting: WaitingApproval, retry: RetryOptions): Promise<ApprovalRecord> {
    return this.#cas.update(
      approvalKey(requestId, callId),
      undefined,
      (stored: unknown) => {
        const current = parsed(stored);
        return current ? { result: current } : { next: waiting, result: waiting as ApprovalRecord };
      },
      { readFirst: true, retry },
    );
  }

  /** Decides a waiting call with `decide(waiting)`, once: a call already decided keeps its first decision. */
  decide(
    requestId: string,
    callId: string,
    decide: (waiting: WaitingApproval) => DecidedApproval,
    retry: RetryOptions,
  ): Promise<DecideOutcome> {
    return this.#cas.update(
      approvalKey(requestId, callId),
      undefined,
      (stored: unknown): { next?: DecidedApproval; result: DecideOutcome } => {
        const current = parsed(stored);
        if (!current) return { result: { kind: "notWaiting" } };
        if (current.state !== ApprovalState.waiting) return { result: { kind: "alreadyDecided", record: current } };
        const record = decide(current);
        return { next: record, result: { kind: "applied", record } };
      },
      { readFirst: true, retry },
    );
  }

  /** Calls `onDecided` once the call's approval is decided (at once if it is already); follows through node deaths. */
  follow(
    requestId: string,
    callId: string,
    onDecided: (record: DecidedApproval) => void,
    log: Logger,
  ): Promise<KvFollower> {
    let decided = false;
    return followKv(
      this.#kv,
      approvalKey(requestId, callId),
      (entry) => {
        if (decided || entry.operation !== "PUT") return;
        const record = decodeValidated(entry.value, undefined, ApprovalRecordSchema, "msgpack");
        if (!record.ok || record.value.state === ApprovalState.waiting) return;
        decided = true;
        onDecided(record.value);
      },
      log,
      "a call's approval",
      { pollMs: APPROVAL_POLL_MS },
    );
  }
}

function parsed(stored: unknown): ApprovalRecord | undefined {
  if (stored === undefined) return undefined;
  const record = ApprovalRecordSchema.safeParse(stored);
  return record.success ? record.data : undefined;
}
