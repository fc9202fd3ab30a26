import { DeliverPolicy, jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { connect, errors, headers, nuid, type Msg, type NatsConnection } from "@nats-io/transport-node";
import {
  approveSubject,
  ApproveReplySchema,
  cancelSubject,
  ContentType,
  decode,
  encode,
  eventsSubject,
  EventType,
  Header,
  OrchestrateEventSchema,
  OrchestrateReplySchema,
  PUBLIC_SUBJECTS,
  replaySubject,
  ReplayReplySchema,
  RequestStatus,
  STREAMS,
  ToolsReplySchema,
  DEFAULT_TIMEOUT_MS,
  type ApproveMessage,
  type ApproveReply,
  type OrchestrateEvent,
  type OrchestrateReply,
  type OrchestrateRequestInput,
  type ReplayMessage,
  type ReplayReply,
  type ToolsReply,
} from "@toolformer/protocol";
import { connectionOptions, natsAuthFromEnv, type NatsAuth } from "./connection-options.ts";
import { InvalidReplyError, OrchestratorUnavailableError, ReplyTimeoutError, RequestAbortedError } from "./errors.ts";
import { Reconnects, requestAcrossReconnects } from "./resend-on-reconnect.ts";

/** How long `approve()` waits for a dispatcher's answer. */
const APPROVE_WAIT_MS = 10_000;

/** Extra time the client waits past the request's own deadline, for the reply to travel back. */
export const REPLY_GRACE_MS = 5_000;

export interface RequestOptions {
  /** How the request travels; the reply comes back the same way. */
  encoding?: ContentType;
  /** Overrides how long to wait for the reply (default: the request's timeout plus a grace). */
  waitMs?: number;
  /**
   * Aborting cancels the request (`orchestrate.cancel.<id>`, an id is made for a request without one)
   * and rejects with `RequestAbortedError` once the cancel is sent.
   */
  signal?: AbortSignal;
}

/** What `stream()` yields: the request's events as they happen, then its reply, last. */
export type StreamItem = { kind: "event"; event: OrchestrateEvent } | { kind: "reply"; reply: OrchestrateReply };

/** How long `stream()` still reads events after the reply, for the last ones to arrive. */
const EVENTS_TAIL_MS = 3_000;

/** How long one pull of a request's events waits on the server (its idle heartbeat is half of this). */
const EVENTS_PULL_EXPIRES_MS = 5_000;
const EVENTS_INACTIVE_THRESHOLD_MS = 15_000;

/**
 * A client of the orchestrator over NATS. Any NATS client in any language can do the same with plain
 * request/reply; this one adds types and validation of what comes back.
 */
export class ToolformerClient {
  readonly nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #reconnects: Reconnects;

  constructor(nc: NatsConnection) {
    this.nc = nc;
    this.#js = jetstream(nc);
    this.#reconnects = new Reconnects(nc);
  }

  /** Connects with `auth`, or the credentials of the environment (`natsAuthFromEnv`). */
  static async connect(
    servers: string,
    name = "toolformer-client",
    auth: NatsAuth = natsAuthFromEnv(process.env),
  ): Promise<ToolformerClient> {
    return new ToolformerClient(await connect({ ...connectionOptions(servers, auth), name }));
  }

  /**
   * Sends the request and returns its reply, whatever its status. Throws `OrchestratorUnavailableError`
   * when no dispatcher listens, `ReplyTimeoutError` when no reply comes in time, `InvalidReplyError`
   * for a reply off the protocol, and `RequestAbortedError` when `options.signal` fires. A request
   * without an id is given one, so that it can be sent again safely: it is, each time the connection
   * comes back while its reply has not (a reply sent while the connection was down is lost).
   */
  async request(input: OrchestrateRequestInput, options: RequestOptions = {}): Promise<OrchestrateReply> {
    const { signal } = options;
    const sent = input.id === undefined ? { ...input, id: nuid.next() } : input;
    const requestId = sent.id!;
    if (signal?.aborted) throw new RequestAbortedError(requestId, { cause: signal.reason });
    const encoding = options.encoding ?? ContentType.json;
    const h = headers();
    h.set(Header.contentType, encoding);
    const waitMs = options.waitMs ?? (input.options?.timeoutMs ?? DEFAULT_TIMEOUT_MS) + REPLY_GRACE_MS;
    const asking = requestAcrossReconnects(this.nc, this.#reconnects, PUBLIC_SUBJECTS.request, encode(sent, encoding), {
      headers: h,
      timeout: waitMs,
    }).then(
      (msg) => replyOf(msg, encoding),
      (error: unknown) => {
        throw requestFailure(error, requestId, waitMs);
      },
    );
    if (!signal) return asking;
    let onAbort = () => {};
    const aborted = new Promise<never>((_resolve, reject) => {
      onAbort = () =>
        void this.cancel(requestId)
          .catch(() => undefined)
          .then(() => reject(new RequestAbortedError(requestId, { cause: signal.reason })));
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([asking, aborted]);
    } finally {
      signal.removeEventListener("abort", onAbort);
      asking.catch(() => undefined);
    }
  }

  /**
   * Sends the request and yields its events as they happen (calls scheduled, started, their progress
   * and outcomes, turns), then its reply, last. The errors are `request()`'s.
   */
  async *stream(input: OrchestrateRequestInput, options: RequestOptions = {}): AsyncGenerator<StreamItem> {
    const sent = input.id === undefined ? { ...input, id: nuid.next() } : input;
    const stopEvents = new AbortController();
    const replying = this.request(sent, options);
    // A refused request has no events; an accepted one's last events may come a moment after the reply.
    replying.then(
      (reply) => setTimeout(() => stopEvents.abort(), reply.status === RequestStatus.rejected ? 0 : EVENTS_TAIL_MS),
      () => setTimeout(() => stopEvents.abort(), EVENTS_TAIL_MS),
    );
    for await (const event of this.events(sent.id!, stopEvents.signal)) yield { kind: "event", event };
    stopEvents.abort();
    yield { kind: "reply", reply: await replying };
  }

  /** Publishing anything on the cancel subject cancels the request, wherever it runs. */
  async cancel(requestId: string): Promise<void> {
    this.nc.publish(cancelSubject(requestId));
    await this.nc.flush();
  }

  /**
   * Approves or denies one of the request's calls that waits for approval (`tool.awaiting_approval`);
   * resolves once the decision is stored, or with why it was not (already decided, bad arguments).
   * Throws `OrchestratorUnavailableError` when no dispatcher listens, `ReplyTimeoutError` when none
   * answers within APPROVE_WAIT_MS (the decision may still have been stored: `tool.approval_decided` tells).
   */
  async approve(requestId: string, message: ApproveMessage): Promise<ApproveReply> {
    const reply = await this.nc
      .request(approveSubject(requestId), encode(message, ContentType.json), { timeout: APPROVE_WAIT_MS })
      .catch((error: unknown) => {
        throw requestFailure(error, requestId, APPROVE_WAIT_MS, approveSubject(requestId));
      });
    return ApproveReplySchema.parse(decode(reply.data, ContentType.json));
  }

  /**
   * Runs a finished request again from its records: the recorded model turns stand in for the model
   * (which is not asked) and the calls run against the tools as they are now; resolves with the
   * recorded timeline and what differs. With `dryRun`, resolves with the recorded timeline only and
   * nothing runs. A request that cannot be replayed (unknown, running, records expired) resolves with
   * `ok: false` and `NOT_REPLAYABLE`. `waitMs` bounds the wait: by default a request's default timeout
   * plus a grace, as the replay runs under the replayed request's own timeout. The errors are
   * `request()`'s.
   */
  async replay(requestId: string, options: { dryRun?: boolean; waitMs?: number } = {}): Promise<ReplayReply> {
    const message: ReplayMessage = options.dryRun ? { dryRun: true } : {};
    const subject = replaySubject(requestId);
    const waitMs = options.waitMs ?? DEFAULT_TIMEOUT_MS + REPLY_GRACE_MS;
    const reply = await this.nc
      .request(subject, encode(message, ContentType.json), { timeout: waitMs })
      .catch((error: unknown) => {
        throw requestFailure(error, requestId, waitMs, subject);
      });
    const failed = reply.headers?.get(Header.serviceError);
    if (failed) throw new InvalidReplyError(`the replay was not answered: ${failed}`);
    const parsed = ReplayReplySchema.safeParse(decode(reply.data, ContentType.json));
    if (!parsed.success) throw new InvalidReplyError(`a replay's answer off the protocol: ${parsed.error.message}`);
    return parsed.data;
  }

  async tools(): Promise<ToolsReply> {
    const reply = await this.nc.request(PUBLIC_SUBJECTS.tools, undefined, { timeout: 5_000 });
    return ToolsReplySchema.parse(decode(reply.data, ContentType.json));
  }

  /**
   * The request's events from the first one, replayed from the stream and then live, until
   * `request.completed` (or the signal fires). Works for a subscriber that arrives late.
   */
  async *events(requestId: string, signal?: AbortSignal): AsyncGenerator<OrchestrateEvent> {
    const consumer = await this.#js.consumers.get(STREAMS.events.name, {
      filter_subjects: eventsSubject(requestId),
      deliver_policy: DeliverPolicy.All,
      // A reader that dies without deleting its consumer leaves it for this long only (nats.js: 5 min).
      inactive_threshold: EVENTS_INACTIVE_THRESHOLD_MS,
    });
    // Short pulls: the client derives its heartbeat from them, so a reader whose server died is moved to
    // another node within seconds instead of half a minute.
    const messages = await consumer.consume({ expires: EVENTS_PULL_EXPIRES_MS });
    const stop = () => void messages.close();
    signal?.addEventListener("abort", stop, { once: true });
    try {
      for await (const msg of messages) {
        const parsed = OrchestrateEventSchema.safeParse(decode(msg.data, ContentType.json));
        if (!parsed.success) continue; // a newer server may send event types this client does not know
        yield parsed.data;
        if (parsed.data.type === EventType.requestCompleted) return;
      }
    } finally {
      signal?.removeEventListener("abort", stop);
      await messages.close();
      // nats.js leaves an ordered consumer on the server until it has been idle for 5 minutes.
      await consumer.delete().catch(() => false);
    }
  }

  async close(): Promise<void> {
    await this.nc.drain();
  }
}

function replyOf(msg: Msg, encoding: ContentType): OrchestrateReply {
  const parsed = OrchestrateReplySchema.safeParse(decode(msg.data, encoding));
  if (!parsed.success) throw new InvalidReplyError(`a reply off the protocol: ${parsed.error.message}`);
  return parsed.data;
}

/** NATS's request errors as the client's own (the original as `cause`). */
function requestFailure(
  error: unknown,
  requestId: string | undefined,
  waitMs: number,
  subject: string = PUBLIC_SUBJECTS.request,
): unknown {
  if (error instanceof errors.RequestError && error.isNoResponders())
    return new OrchestratorUnavailableError(`no dispatcher listens on ${subject}`, { cause: error });
  if (error instanceof errors.TimeoutError) return new ReplyTimeoutError(requestId, waitMs, { cause: error });
  return error;
}
