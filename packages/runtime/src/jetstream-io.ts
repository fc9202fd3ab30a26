import {
  PubHeaders,
  type JetStreamClient,
  type JetStreamManager,
  type JetStreamPublishOptions,
  type MsgRequest,
  type PubAck,
  type StoredMsg,
} from "@nats-io/jetstream";
import { errors, type MsgHdrs } from "@nats-io/transport-node";
import { untilStored } from "./backoff.ts";
import { DEFAULT_TRY_TIMEOUT, isUnanswered, tryTimeoutMs, type TryTimeoutPolicy } from "./try-timeout.ts";

/**
 * A write made at or after its request's deadline (a timeout's record, a round's final records), or by a
 * caller that knows no deadline, still gets this long to be stored: a stream whose leader died elects
 * another in 5-7 s, and a try lost with the dying node, or at the election, waits out its timeout
 * (DEFAULT_TRY_TIMEOUT). The readers wait a little past the deadline for such records (the dispatcher
 * 2.5 s for a round's, the scheduler 1.5 s for a call's).
 */
export const MIN_RETRY_WINDOW_MS = 15_000;

/** When retries of a write or read for a request with this deadline (epoch ms) stop. */
export function retryUntil(deadline: number, now = Date.now()): number {
  return Math.max(deadline, now + MIN_RETRY_WINDOW_MS);
}

export interface RetryOptions {
  /** No try starts after this (epoch ms): normally `retryUntil(deadline)`. */
  giveUpAt: number;
  signal?: AbortSignal | undefined;
}

/** A publish's acknowledgement, and whether an earlier try of it may have been stored (it went unanswered). */
export interface StoredAck extends PubAck {
  /**
   * A `duplicate` answer to a first try means another publisher stored this message id first; after a
   * retried try it may be this publisher's own earlier try.
   */
  retried: boolean;
}

/**
 * Publishes to a stream, trying again while no stream leader answers (an election after a node died, a
 * reconnect), until `giveUpAt`. Only a message with a `Nats-Msg-Id` may be retried: when a try timed out
 * after the stream stored it, the next try is acknowledged as a duplicate (inside the 2-minute window)
 * and nothing is stored twice (a stream's leader looks for the id before it checks `expect`).
 *
 * Each try waits for its acknowledgement as long as `tryTimeout` says (by default 2 s, doubling up to
 * the client's 5 s while tries go unanswered in a row): a try lost with a dying node is sent again
 * within seconds, not after the client's full timeout (issue 15). The last try may end after `giveUpAt`.
 *
 * A try refused for its `expect` after an earlier one went unanswered may have been refused because of
 * that earlier try: a clustered stream looks for the message id only where its leader proposes a
 * message, and checks `expect` again where every node applies it, so a new leader that has not applied
 * the earlier try yet lets the retry through to a refusal (docs/adr/0042). When the subject's last
 * message in `stream` carries this message id, the refusal is taken for what it is, a duplicate; a
 * write that sets `expect` names its `stream` for that (an actor may not look streams up by subject).
 */
export function publishStored(
  js: JetStreamClient,
  subject: string,
  data: Uint8Array,
  options: RetryOptions & {
    msgID: string;
    headers?: MsgHdrs | undefined;
    expect?: JetStreamPublishOptions["expect"];
    /** The stream `subject` is stored in: where a refusal of `expect` after an unanswered try is looked into. */
    stream?: string;
    tryTimeout?: TryTimeoutPolicy;
  },
): Promise<StoredAck> {
  const { msgID, headers, expect, stream, giveUpAt, signal, tryTimeout = DEFAULT_TRY_TIMEOUT } = options;
  const publishOptions: Partial<JetStreamPublishOptions> = { msgID };
  if (headers) publishOptions.headers = headers;
  if (expect) publishOptions.expect = expect;
  let unansweredInARow = 0;
  let anyUnanswered = false;
  const publishOnce = async (attempt: number): Promise<StoredAck> => {
    try {
      const timeout = tryTimeoutMs(unansweredInARow, tryTimeout);
      const ack = await js.publish(subject, data, { ...publishOptions, timeout }).catch((error: unknown) => {
        throw isEarlierTryInFlight(error) ? new EarlierTryInFlight({ cause: error }) : error;
      });
      // A 2.9 server acknowledges a duplicate of a try it has not stored yet with sequence 0: that try
      // may still be refused (an `expect` that no longer holds), so only a later answer tells.
      if (ack.duplicate && ack.seq === 0) throw new EarlierTryInFlight();
      return { ...ack, retried: attempt > 1 };
    } catch (error) {
      // An earlier try still being stored counts as silence too: the stream is slow, give it longer.
      unansweredInARow = isUnanswered(error) ? unansweredInARow + 1 : 0;
      anyUnanswered ||= unansweredInARow > 0;
      throw error;
    }
  };
  return untilStored(publishOnce, { giveUpAt, signal }).catch(async (error: unknown) => {
    const ownTry =
      stream !== undefined &&
      anyUnanswered &&
      isWrongLastSequence(error) &&
      (await ownStoredTry(js, stream, subject, msgID, options));
    if (!ownTry) throw error;
    return ownTry;
  });
}

/** Whether a write was refused because the stream or subject moved past the sequence it expected. */
export function isWrongLastSequence(error: unknown): boolean {
  return /wrong last sequence/i.test(String(error));
}

/** The ack of an earlier try of `msgID`, when it is the last message stored on `subject`. */
async function ownStoredTry(
  js: JetStreamClient,
  stream: string,
  subject: string,
  msgID: string,
  retry: RetryOptions,
): Promise<StoredAck | undefined> {
  const last = await lastStored(await js.jetstreamManager(false), stream, subject, retry);
  if (last?.header?.get(PubHeaders.MsgIdHdr) !== msgID) return undefined;
  return { stream, seq: last.seq, duplicate: true, retried: true };
}

/**
 * An earlier try with the same message id is still being stored, so whether this message was stored is
 * not known yet: an answer that has not come, asked for again like any other timeout.
 */
export class EarlierTryInFlight extends errors.TimeoutError {
  constructor(options?: ErrorOptions) {
    super(options);
    this.name = "EarlierTryInFlight";
  }
}

/** What a 2.11+ server answers to a duplicate of a try it has not stored yet. */
function isEarlierTryInFlight(error: unknown): boolean {
  return /duplicate message id is in process/i.test(String(error));
}

/** How long a step of an actor's start is tried again while the servers do not answer it. */
export const START_RETRY_WINDOW_MS = 60_000;

/**
 * A step of an actor's start (binding a consumer, opening a watch), tried again while the servers do
 * not answer: a busy cluster or a stream's election can outlast one request's timeout, and an actor
 * that exits on it is a crash an orchestrator restarts for nothing.
 */
export function whileStarting<T>(step: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  return untilStored(step, { giveUpAt: Date.now() + START_RETRY_WINDOW_MS, signal });
}

/** The last message stored on `subject` (null when there is none), read again while the stream has no leader. */
export function lastStored(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
  options: RetryOptions,
): Promise<StoredMsg | null> {
  return untilStored(() => jsm.streams.getMessage(stream, { last_by_subj: subject }), options);
}

/**
 * The first message stored on `subject` at or after sequence `fromSeq` (null when there is none), read
 * again while the stream has no leader: walking a subject's messages in order without a consumer.
 */
export function nextStored(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
  fromSeq: number,
  options: RetryOptions,
): Promise<StoredMsg | null> {
  // STREAM.MSG.GET takes next_by_subj since server 2.9 (tried on 2.9.10); the client's type lags.
  const next = { next_by_subj: subject, seq: fromSeq } as unknown as MsgRequest;
  return untilStored(() => jsm.streams.getMessage(stream, next), options);
}
