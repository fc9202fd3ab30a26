import type { KV, KvEntry, KvWatchEntry } from "@nats-io/kv";
import type { ServiceMsg } from "@nats-io/services";
import type { ContentType } from "@toolformer/protocol";
import {
  MESSAGE_IDS,
  contentTypeOf,
  encode,
  ErrorCode,
  Header,
  INTERNAL_SUBJECTS,
  isInboxSubject,
  newRequestId,
  OrchestrateRequestSchema,
  RequestRecordSchema,
  subjectToken,
  type ErrorBody,
  type OrchestrateReply,
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
  nextTraceparent,
  publishStored,
  untilStored,
  type ActorContext,
  type Logger,
  type StoredAck,
} from "@toolformer/runtime";
import { readableId, rejectedReply } from "./reply.ts";
import type { ToolCatalog } from "./tool-catalog.ts";

/**
 * The front door, `orchestrate.request`: validates, resolves model and tools, and queues the request
 * durably for the runners. Queuing is the one write that accepts a request, so a front door that dies
 * before it is stored leaves nothing half-done: the client hears nothing and sends again (the same id is
 * safe). A repeated id gets the first request's reply and runs nothing again: it is known by its record
 * (written by the runner that takes it) or, while the first is still queued, by the queue's
 * duplicate detection of its `Nats-Msg-Id`. The reply comes later from whichever dispatcher runs it.
 */
export async function acceptRequest(
  msg: ServiceMsg,
  ctx: ActorContext,
  deps: { requests: KV; catalog: ToolCatalog; providers: ProviderRegistry },
): Promise<void> {
  if (msg.reply && !isInboxSubject(msg.reply)) {
    // Answering would publish wherever the sender pointed, with the dispatcher's rights: drop it.
    ctx.log.warn({ replyTo: msg.reply }, "request dropped: its reply subject is not an inbox");
    return;
  }
  const encoding = contentTypeOf(msg.headers?.get(Header.contentType));
  const now = Date.now();
  const reject = (error: ErrorBody, id?: string) => respond(msg, rejectedReply(error, id, now), encoding);

  const decoded = decodeValidated(msg.data, msg.headers, OrchestrateRequestSchema);
  if (!decoded.ok) return reject(decoded.error, readableId(decoded.raw));
  const request = decoded.value;
  const id = request.id ?? newRequestId();
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
  const key = subjectToken(id);
  const notQueued = () =>
    reject(
      { code: ErrorCode.INTERNAL, message: `request ${id} could not be queued; send it again with the same id` },
      id,
    );
  const answerRepeat = async () => {
    const reply = await awaitFinishedReply(deps.requests, key, deadline + REPEAT_WAIT_GRACE_MS, ctx.log);
    if (reply) return respond(msg, reply, encoding);
    return reject({ code: ErrorCode.INTERNAL, message: `request ${id} is known but its reply could not be read` }, id);
  };

  let known: KvEntry | null;
  try {
    known = await untilStored(() => deps.requests.get(key), { giveUpAt: deadline });
  } catch (error) {
    if (isTransient(error)) return notQueued();
    throw error;
  }
  if (known?.operation === "PUT") return answerRepeat();

  const run: RequestRun = {
    requestId: id,
    deadline,
    traceparent: nextTraceparent(msg.headers?.get(Header.traceparent)),
    attempt: 1,
    request: { ...request, id },
    ...(msg.reply ? { replyTo: msg.reply } : {}),
    replyEncoding: encoding,
    acceptedAt: now,
  };
  let queued: StoredAck;
  try {
    queued = await publishStored(ctx.js, INTERNAL_SUBJECTS.requestRun(id), encodeInternal(run), {
      msgID: MESSAGE_IDS.requestRun(id),
      headers: internalHeaders(run),
      giveUpAt: deadline,
    });
  } catch (error) {
    if (isTransient(error)) return notQueued();
    throw error;
  }
  if (queued.duplicate && !queued.retried) return answerRepeat();
}

/** How long past the first request's deadline a repeat waits for its reply before giving up. */
const REPEAT_WAIT_GRACE_MS = 10_000;

/**
 * Waits for the record of a known id to hold a reply (the first request may still be queued or running),
 * giving up at `giveUpAt` or, once the record is there, a grace after the first request's own deadline.
 * The watch is made again if a node's death ends it.
 */
async function awaitFinishedReply(
  requests: KV,
  key: string,
  giveUpAt: number,
  log: Logger,
): Promise<OrchestrateReply | undefined> {
  let settle: (reply: OrchestrateReply | undefined) => void = () => {};
  const settled = new Promise<OrchestrateReply | undefined>((resolve) => (settle = resolve));
  let giveUp = setTimeout(() => settle(undefined), Math.max(0, giveUpAt - Date.now()));
  const onEntry = (entry: KvWatchEntry) => {
    if (entry.operation !== "PUT") return;
    const decoded = decodeValidated(entry.value, undefined, RequestRecordSchema, "msgpack");
    if (!decoded.ok) return settle(undefined);
    if (decoded.value.state === "finished") return settle(decoded.value.reply as OrchestrateReply);
    clearTimeout(giveUp);
    const waitMs = Math.max(0, decoded.value.deadline - Date.now()) + REPEAT_WAIT_GRACE_MS;
    giveUp = setTimeout(() => settle(undefined), waitMs);
  };
  const follower = await untilStored(() => followKv(requests, key, onEntry, log, "a repeated request's record"), {
    giveUpAt,
  });
  try {
    return await settled;
  } finally {
    clearTimeout(giveUp);
    follower.stop();
  }
}

export function respond(
  msg: { respond(data: Uint8Array, opts?: { headers?: ReturnType<typeof contentTypeHeaders> }): boolean },
  reply: OrchestrateReply,
  encoding: ContentType,
): void {
  msg.respond(encode(reply, encoding), { headers: contentTypeHeaders(encoding) });
}
