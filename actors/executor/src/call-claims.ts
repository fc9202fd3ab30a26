import type { JetStreamClient } from "@nats-io/jetstream";
import type { KvEntry } from "@nats-io/kv";
import {
  callClaimKey,
  CallClaimSchema,
  KV_BUCKETS,
  kvStreamName,
  type CallClaim,
  type ExecCall,
} from "@toolformer/protocol";
import {
  decodeValidated,
  encodeInternal,
  isWrongLastSequence,
  publishStored,
  retryUntil,
  untilStored,
  type ActorContext,
} from "@toolformer/runtime";

/**
 * How long a claim holds without being renewed: about the exec consumer's ack wait, so a dead holder's
 * claim has lapsed, or nearly, by the time its call is delivered again.
 */
export const CLAIM_LEASE_MS = 10_000;
/** How often a run renews its claim while it works on the call. */
export const CLAIM_RENEW_MS = 3_000;
/** Conflicting writes to one claim before giving up (each loser reads, then decides again). */
const MAX_CLAIM_ATTEMPTS = 5;

/** What a run found: the call is its own now (at `revision`), or another run holds it until `until`. */
export type ClaimOutcome = { kind: "taken"; revision: number } | { kind: "held"; until: number };

/**
 * Pure: what a run does with the claim stored for its call at `now`. No claim, its own, or a lapsed one
 * is taken; a live claim of another run (on any copy, this one included) is waited for.
 */
export function claimDecision(stored: CallClaim | undefined, run: string, now: number): "take" | { until: number } {
  if (!stored || stored.run === run || stored.leaseUntil <= now) return "take";
  return { until: stored.leaseUntil };
}

/** A claim that is not one (deleted, or not a valid claim) holds nothing. */
function storedClaim(entry: KvEntry | null): CallClaim | undefined {
  if (entry?.operation !== "PUT" || entry.value.length === 0) return undefined;
  const decoded = decodeValidated(entry.value, undefined, CallClaimSchema, "msgpack");
  return decoded.ok ? decoded.value : undefined;
}

type ClaimsBucket = NonNullable<ActorContext["kv"]["callClaims"]>;

/**
 * Claims of calls of tools with side effects in KV (`tf_call_claims`, docs/adr/0030), by compare-and-set
 * on each key's revision. The first try is a create, so an uncontended claim is one write. Writes are
 * tried again while the bucket has no leader, each with its own message id, so a try that timed out
 * after it was stored is acknowledged as a duplicate rather than refused as a conflict.
 */
export class CallClaims {
  readonly #js: JetStreamClient;
  readonly #kv: ClaimsBucket;
  readonly #executorId: string;

  constructor(ctx: Pick<ActorContext, "js" | "kv" | "actorId">) {
    const kv = ctx.kv.callClaims;
    if (!kv) throw new Error("the call claims bucket is not bound");
    this.#js = ctx.js;
    this.#kv = kv;
    this.#executorId = ctx.actorId;
  }

  async claim(call: ExecCall, run: string): Promise<ClaimOutcome> {
    const retry = { giveUpAt: retryUntil(call.deadline) };
    const key = callClaimKey(call.requestId, call.callId);
    let expected = 0;
    for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
      const revision = await this.#write(call, run, expected, Date.now() + CLAIM_LEASE_MS);
      if (revision !== null) return { kind: "taken", revision };
      const entry = await untilStored(() => this.#kv.get(key), retry);
      const decision = claimDecision(storedClaim(entry), run, Date.now());
      if (decision !== "take") return { kind: "held", until: decision.until };
      expected = entry?.revision ?? 0;
    }
    throw new Error(`gave up claiming call ${call.callId} after ${MAX_CLAIM_ATTEMPTS} conflicting writes`);
  }

  /** Extends the run's claim; null when another run took the call over (this run's lease had lapsed). */
  renew(call: ExecCall, run: string, revision: number): Promise<number | null> {
    return this.#write(call, run, revision, Date.now() + CLAIM_LEASE_MS);
  }

  /** Lets the call go at once (a stopping copy hands it back before its tool started). */
  async release(call: ExecCall, run: string, revision: number): Promise<void> {
    await this.#write(call, run, revision, 0);
  }

  /** The new revision, or null when the key is no longer at `expected`. */
  async #write(call: ExecCall, run: string, expected: number, leaseUntil: number): Promise<number | null> {
    const claim: CallClaim = { executorId: this.#executorId, run, leaseUntil };
    const subject = `$KV.${KV_BUCKETS.callClaims}.${callClaimKey(call.requestId, call.callId)}`;
    try {
      const ack = await publishStored(this.#js, subject, encodeInternal(claim), {
        giveUpAt: retryUntil(call.deadline),
        msgID: `${run}:${expected}:${leaseUntil}`,
        expect: { lastSubjectSequence: expected },
        stream: kvStreamName(KV_BUCKETS.callClaims),
      });
      return ack.seq;
    } catch (error) {
      if (isWrongLastSequence(error)) return null;
      throw error;
    }
  }
}
