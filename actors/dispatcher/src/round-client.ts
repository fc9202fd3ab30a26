import type { MsgHdrs } from "@nats-io/transport-node";
import {
  MESSAGE_IDS,
  INTERNAL_SUBJECTS,
  RoundDoneSchema,
  type PlannedCall,
  type RequestRun,
  type RoundAdd,
  type RoundSubmit,
} from "@toolformer/protocol";
import {
  awaitRecord,
  decodeValidated,
  encodeInternal,
  internalHeaders,
  publishStored,
  retryUntil,
  type ActorContext,
} from "@toolformer/runtime";
import type { RoundOutcome } from "./model-loop.ts";
import type { RequestProgress } from "./progress.ts";

/**
 * The longest the call that opens a round waits for more calls, however many the turns of the event loop
 * bring: a model that writes calls without a pause still has its first one start soon.
 */
const OPENING_WAIT_MS = 5;

/**
 * Resolves once a turn of the event loop (its check phase) adds nothing to `calls`, or after
 * OPENING_WAIT_MS: the model's stream is parsed over several turns even when its bytes came in one read.
 */
function untilNoneMore(calls: readonly unknown[]): Promise<void> {
  const until = performance.now() + OPENING_WAIT_MS;
  return new Promise((resolve) => {
    let seen = calls.length;
    const look = () => {
      if (calls.length === seen || performance.now() >= until) return resolve();
      seen = calls.length;
      setImmediate(look);
    };
    setImmediate(look);
  });
}

/** How often a round's stored record is looked up while waiting, in case the live message was missed. */
const LOOKUP_INTERVAL_MS = 5_000;

/**
 * Hands one request's rounds to the schedulers: calls as the model finishes writing them (the first
 * opens the round), then the rest and the seal; and waits for each round's record. Publishes of a round
 * stay in order, carry message ids (so a retry or a takeover stores nothing twice) and are retried
 * through leader elections until the request's deadline.
 */
export class RoundClient {
  readonly #ctx: ActorContext;
  readonly #run: RequestRun;
  /** The round's calls may take over speculative calls. */
  readonly #speculation: boolean;
  readonly #progress: RequestProgress;
  #publishing: Promise<unknown> = Promise.resolve();
  /** Calls waiting for the publish before them, to go out together in the next add. */
  #waiting: { round: number; calls: PlannedCall[]; sent: Promise<unknown> } | undefined;

  constructor(ctx: ActorContext, run: RequestRun, speculation: boolean, progress: RequestProgress) {
    this.#ctx = ctx;
    this.#run = run;
    this.#speculation = speculation;
    this.#progress = progress;
  }

  /**
   * One call to the round now; `handedBefore` calls are in it already (none: this call opens it).
   * Calls the model finishes while the publish before them is in flight wait for it and then go out
   * together, in their order, as one add: a turn of many calls costs a few publishes, not one each.
   * The call that opens the round waits until a turn of the event loop brings no other call, so that
   * the calls the model's stream already holds open it with it: a turn that arrives whole is one
   * message, and none of its calls waits for another's publish.
   */
  handCall(round: number, call: PlannedCall, handedBefore: number): Promise<unknown> {
    if (handedBefore === 0) this.#waiting = undefined;
    const waiting = this.#waiting;
    if (waiting?.round === round) {
      waiting.calls.push(call);
      return waiting.sent;
    }
    const calls = [call];
    const opens = handedBefore === 0;
    const sent = this.#publishing
      .then(() => (opens ? untilNoneMore(calls) : undefined))
      .then(() => {
        if (this.#waiting?.calls === calls) this.#waiting = undefined;
        return opens ? this.#submit(round, calls, true) : this.#add(round, calls);
      });
    this.#waiting = { round, calls, sent };
    this.#publishing = sent;
    return sent;
  }

  /** No more calls: hands on those of `calls` not in `handed` and seals the round, or submits it whole. */
  async finish(round: number, calls: PlannedCall[], handed: PlannedCall[]): Promise<void> {
    await this.#publishing;
    if (handed.length === 0) return void (await this.#submit(round, calls, false));
    const rest = calls.filter((call) => !handed.some((known) => known.callId === call.callId));
    // Calls handed on for a turn that was asked again, and not taken over, are in the round too.
    await this.#add(round, rest, handed.length + rest.length);
  }

  /** The scheduler's record of the round; undefined if `signal` fired first. */
  awaitDone(round: number, signal: AbortSignal): Promise<RoundOutcome | undefined> {
    return awaitRecord(this.#ctx.nc, {
      subject: INTERNAL_SUBJECTS.roundDone(this.#run.requestId, round),
      decode: (msg) => {
        const decoded = decodeValidated(msg.data, msg.headers, RoundDoneSchema);
        return decoded.ok ? decoded.value : undefined;
      },
      lookUp: () => this.#progress.roundDone(round),
      pollMs: LOOKUP_INTERVAL_MS,
      signal,
    });
  }

  #submit(round: number, calls: PlannedCall[], open: boolean): Promise<unknown> {
    const run = this.#run;
    const { options } = run.request;
    const message: RoundSubmit = {
      requestId: run.requestId,
      deadline: run.deadline,
      traceparent: run.traceparent,
      attempt: 1,
      round,
      open,
      priority: options.priority,
      tenant: options.tenant,
      ...(options.maxParallel === undefined ? {} : { maxParallel: options.maxParallel }),
      strategy: options.strategy,
      race: options.race,
      speculation: this.#speculation,
      cache: options.cache,
      calls,
    };
    const subject = INTERNAL_SUBJECTS.roundSubmit(run.requestId);
    const msgID = MESSAGE_IDS.roundSubmit(run.requestId, round);
    return this.#stored(subject, encodeInternal(message), msgID, internalHeaders(message));
  }

  #add(round: number, calls: PlannedCall[], sealTotal?: number): Promise<unknown> {
    const message: RoundAdd = {
      requestId: this.#run.requestId,
      round,
      calls,
      ...(sealTotal === undefined ? {} : { sealTotal }),
    };
    const { requestId } = this.#run;
    const msgID =
      sealTotal === undefined
        ? MESSAGE_IDS.roundAdd(
            requestId,
            round,
            calls.map((c) => c.callId),
          )
        : MESSAGE_IDS.roundSeal(requestId, round);
    const subject = INTERNAL_SUBJECTS.roundAdd(requestId, round);
    return this.#stored(subject, encodeInternal(message), msgID, internalHeaders(this.#run));
  }

  #stored(subject: string, data: Uint8Array, msgID: string, headers: MsgHdrs): Promise<unknown> {
    return publishStored(this.#ctx.js, subject, data, { msgID, headers, giveUpAt: retryUntil(this.#run.deadline) });
  }
}
