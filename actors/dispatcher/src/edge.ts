import type { KV, KvEntry } from "@nats-io/kv";
import type { ContentType } from "@toolformer/protocol";
import {
  MESSAGE_IDS,
  contentTypeOf,
  encode,
  ErrorCode,
  Header,
  INTERNAL_SUBJECTS,
  isReplySubject,
  newRequestId,
  RequestRunSchema,
  STREAMS,
  subjectToken,
  tenantOfRequestSubject,
  type ErrorBody,
  type OrchestrateReply,
  type RequestRecord,
  type RequestRun,
} from "@toolformer/protocol";
import type { ProviderRegistry } from "@toolformer/providers";
import {
  contentTypeHeaders,
  decodeValidated,
  encodeInternal,
  followKv,
  internalHeaders,
  isTransient,
  lastStored,
  traceparentHere,
  publishConfirmed,
  publishStored,
  retryUntil,
  untilStored,
  type ActorContext,
  type Logger,
  type RetryOptions,
  type StoredAck,
} from "@toolformer/runtime";
import type { RequestReader } from "./edge-limits.ts";
import type { FrontDoorMsg } from "./front-door-hand-over.ts";
import { rejectedReply } from "./reply.ts";
import type { ToolCatalog } from "./tool-catalog.ts";
import { decodeRecord, readRecord } from "./request-record.ts";
import { admitRequest, type TenantPolicies } from "./tenancy.ts";

/** What the front door uses of its actor: it queues and reads, and runs nothing itself. */
export type FrontDoorContext = Pick<ActorContext, "nc" | "js" | "jsm" | "log">;

/**
 * The front door, `orchestrate.request` and the tenants' `orchestrate.tenant.<tenant>.request`: reads
 * the body within its caps, validates, admits it for its tenant (`admitRequest`), resolves model and
 * tools, and queues the request durably for the runners. Queuing is the one write that accepts a
 * request, so a front door that dies before it is stored leaves nothing half-done: the client hears
 * nothing and sends again (the same id is safe). A repeated id gets the first request's reply and runs
 * nothing again: it is known by its record (written by the runner that takes it) or, while the first is
 * still queued, by the queue's duplicate detection of its `Nats-Msg-Id`. The reply comes later from
 * whichever dispatcher runs it.
 */
export async function acceptRequest(
  msg: FrontDoorMsg,
  ctx: FrontDoorContext,
  deps: {
    requests: KV;
    catalog: ToolCatalog;
    providers: ProviderRegistry;
    reader: RequestReader;
    tenantPolicies: TenantPolicies;
  },
  handedOver: AbortSignal,
): Promise<void> {
  // The server names the tenant in the subject of a request that came through a tenant's account.
  const tenant = tenantOfRequestSubject(msg.subject);
  if (msg.reply && !isReplySubject(msg.reply, tenant !== undefined)) {
    // Answering would publish wherever the sender pointed, with the dispatcher's rights: drop it.
    ctx.log.warn({ replyTo: msg.reply }, "request dropped: its reply subject is not an inbox");
    return;
  }
  const encoding = contentTypeOf(msg.headers?.get(Header.contentType));
  const now = Date.now();
  // A publish handed over to another front door is answered there.
  const answer = (reply: OrchestrateReply) => void (handedOver.aborted || respond(msg, reply, encoding, ctx));
  const reject = (error: ErrorBody, id?: string) => answer(rejectedReply(error, id, now));

  const read = await deps.reader.read(msg.data, msg.headers);
  if (!read.ok) return reject(read.error, read.id);
  const id = read.request.id ?? newRequestId();
  const admitted = admitRequest(read.request, id, read.asked, tenant, deps.tenantPolicies);
  if (!admitted.ok) return reject(admitted.error, id);
  const { request, requestId } = admitted;
  if (!deps.providers.resolve(request.model)) {
    return reject(
      {
        code: ErrorCode.UNKNOWN_MODEL,
        message: `no provider for model ${request.model}; configured: ${deps.providers.providers().join(", ")}`,
      },
      id,
    );
  }
  const available = deps.catalog.available();
  const unknown = (request.tools ?? []).filter((name) => !available.has(name));
  if (unknown.length > 0) {
    return reject(
      { code: ErrorCode.UNKNOWN_TOOL, message: `unknown tools: ${unknown.join(", ")}`, details: { unknown } },
      id,
    );
  }

  const deadline = now + request.options.timeoutMs;
  const key = subjectToken(requestId);
  const retry = { giveUpAt: deadline, signal: handedOver };
  const notQueued = (error: unknown) => {
    if (!isTransient(error) && !handedOver.aborted) throw error;
    reject(
      { code: ErrorCode.INTERNAL, message: `request ${id} could not be queued; send it again with the same id` },
      id,
    );
  };
  const answerRepeat = async () => {
    const reply = await awaitFinishedReply(deps.requests, key, deadline + REPEAT_WAIT_GRACE_MS, ctx.log, handedOver);
    if (reply) return answer(reply);
    return reject({ code: ErrorCode.INTERNAL, message: `request ${id} is known but its reply could not be read` }, id);
  };
  // The runner answers the inbox of the copy that was stored: another publish's (a client that sent
  // again, or twice at once), or this very publish's (its own earlier try that timed out, or the same
  // publish handed over by a stopping front door). Only another inbox is answered here. When whose it
  // is cannot be told, a second reply to a live inbox beats none.
  const answerUnlessStoredIsOwn = async () => {
    const storedInbox = await storedInboxOf(ctx, deps.requests, requestId, retry).catch(() => null);
    if (storedInbox !== msg.reply) return answerRepeat();
  };

  let known: RequestRecord | undefined;
  try {
    known = await readRecord(deps.requests, key, retry);
  } catch (error) {
    return notQueued(error);
  }
  if (known?.state === "finished") return answerRepeat();
  if (known) return answerUnlessStoredIsOwn();

  const run: RequestRun = {
    requestId,
    deadline,
    traceparent: traceparentHere(msg.headers?.get(Header.traceparent)),
    attempt: 1,
    request,
    ...(msg.reply ? { replyTo: msg.reply } : {}),
    replyEncoding: encoding,
    acceptedAt: now,
  };
  let queued: StoredAck;
  try {
    queued = await publishStored(ctx.js, INTERNAL_SUBJECTS.requestRun(requestId), encodeInternal(run), {
      msgID: MESSAGE_IDS.requestRun(requestId),
      headers: internalHeaders(run),
      ...retry,
    });
  } catch (error) {
    return notQueued(error);
  }
  if (queued.duplicate) return answerUnlessStoredIsOwn();
}

/**
 * The inbox the stored copy of a request answers: its queued run's while it is queued or running (the
 * run is acknowledged only once finished), else the one its finished record says it replied to.
 */
async function storedInboxOf(
  ctx: FrontDoorContext,
  requests: KV,
  requestId: string,
  retry: RetryOptions,
): Promise<string | undefined> {
  const queued = await lastStored(ctx.jsm, STREAMS.requests.name, INTERNAL_SUBJECTS.requestRun(requestId), retry);
  if (queued) {
    const run = decodeValidated(queued.data, queued.header, RequestRunSchema, "msgpack");
    return run.ok ? run.value.replyTo : undefined;
  }
  const record = await readRecord(requests, subjectToken(requestId), retry);
  return record?.state === "finished" ? record.repliedTo : undefined;
}

/** How long past the first request's deadline a repeat waits for its reply before giving up. */
const REPEAT_WAIT_GRACE_MS = 10_000;
/** How often a repeat reads the record itself, besides watching it. */
const REPEAT_POLL_MS = 1_000;

/**
 * Waits for the record of a known id to hold a reply (the first request may still be queued or running),
 * giving up at `giveUpAt` or, once the record is there, a grace after the first request's own deadline.
 * The record is followed through node deaths, and also read every REPEAT_POLL_MS: a watch made while a
 * node died could stay silent, and repeats sent then went unanswered in the fault runs. The reply goes
 * out as soon as either sees it, without waiting for the watch to be made.
 */
async function awaitFinishedReply(
  requests: KV,
  key: string,
  giveUpAt: number,
  log: Logger,
  signal: AbortSignal,
): Promise<OrchestrateReply | undefined> {
  let settle: (reply: OrchestrateReply | undefined) => void = () => {};
  const settled = new Promise<OrchestrateReply | undefined>((resolve) => (settle = resolve));
  signal.addEventListener("abort", () => settle(undefined), { once: true });
  let giveUp = setTimeout(() => settle(undefined), Math.max(0, giveUpAt - Date.now()));
  const onEntry = (entry: Pick<KvEntry, "operation" | "value">) => {
    if (entry.operation !== "PUT") return;
    const record = decodeRecord(entry.value);
    if (!record) return settle(undefined);
    if (record.state === "finished") return settle(record.reply as OrchestrateReply);
    clearTimeout(giveUp);
    const waitMs = Math.max(0, record.deadline - Date.now()) + REPEAT_WAIT_GRACE_MS;
    giveUp = setTimeout(() => settle(undefined), waitMs);
  };
  // Not awaited: the key is read every REPEAT_POLL_MS from before the watch is made, and a node's death
  // holds the watch's making up (tried for up to 60 s) while the reply may already be there: repeats
  // sent right at a node's death were answered 2.9-3.9 s after their record held the reply.
  const answered = new AbortController();
  untilStored(
    () =>
      followKv(requests, key, onEntry, log, "a repeated request's record", {
        pollMs: REPEAT_POLL_MS,
        signal: answered.signal,
      }),
    { giveUpAt, signal: answered.signal },
  ).then(
    (follower) => void settled.finally(() => follower.stop()),
    () => settle(undefined),
  );
  try {
    return await settled;
  } finally {
    clearTimeout(giveUp);
    answered.abort();
  }
}

/**
 * Answers the publish, confirmed by the server or sent again after a reconnect (ADR 0037): a repeat's
 * answer or a refusal lost with this dispatcher's node would leave its client waiting out its timeout.
 */
async function respond(
  msg: FrontDoorMsg,
  reply: OrchestrateReply,
  encoding: ContentType,
  ctx: Pick<FrontDoorContext, "nc" | "log">,
): Promise<void> {
  const data = encode(reply, encoding);
  const headers = contentTypeHeaders(encoding);
  await publishConfirmed(ctx.nc, () => msg.respond(data, { headers }), { giveUpAt: retryUntil(Date.now()) }).catch(
    (error: unknown) => ctx.log.warn({ err: error, replyTo: msg.reply }, "an answer could not be confirmed"),
  );
}
