import type { KV } from "@nats-io/kv";
import type { MsgHdrs } from "@nats-io/transport-node";
import {
  ContentType,
  ErrorCode,
  Header,
  INTERNAL_SUBJECTS,
  isReplySubject,
  MESSAGE_IDS,
  newRequestId,
  recordedRequest,
  ReplayMessageSchema,
  requestIdFromReplaySubject,
  tenantOfRequestId,
  tenantRequestId,
  type RecordedRequest,
  type ReplayReply,
  type ReplayRun,
} from "@toolformer/protocol";
import {
  decodeValidated,
  encodeInternal,
  internalHeaders,
  MIN_RETRY_WINDOW_MS,
  publishStored,
  traceparentHere,
  type ActorContext,
} from "@toolformer/runtime";
import { RequestProgress } from "./progress.ts";
import { sendReplayAnswer } from "./replay-answer.ts";
import { readTimeline } from "./timeline.ts";

interface ReplayMsg {
  subject: string;
  data: Uint8Array;
  headers?: MsgHdrs;
  reply?: string;
}

/**
 * `orchestrate.replay.<id>` (ADR 0027): reads the finished request's timeline from its records, and
 * answers with it for a dry run; otherwise queues the replay as a request of its own, whose runner
 * answers once it has run. A request that cannot be replayed (unknown, running, records expired) is
 * answered at once with why. Only an inbox (or, for a tenant's request, the server's reply subject)
 * is answered, and a replay nobody waits for does not run.
 */
export async function handleReplay(
  msg: ReplayMsg,
  ctx: Pick<ActorContext, "nc" | "js" | "jsm" | "log">,
  requests: KV,
): Promise<void> {
  const requestId = requestIdFromReplaySubject(msg.subject);
  const inbox = msg.reply;
  if (!requestId || !inbox || !isReplySubject(inbox, tenantOfRequestId(requestId) !== undefined)) {
    ctx.log.warn({ subject: msg.subject, replyTo: inbox }, "replay dropped: no inbox to answer");
    return;
  }
  const answer = (reply: ReplayReply) => sendReplayAnswer(ctx.nc, inbox, reply);
  const decoded = decodeValidated(msg.data.byteLength === 0 ? EMPTY_JSON : msg.data, msg.headers, ReplayMessageSchema);
  if (!decoded.ok) return answer({ ok: false, error: decoded.error });

  const giveUpAt = Date.now() + MIN_RETRY_WINDOW_MS;
  const progress = new RequestProgress(ctx, { requestId, deadline: giveUpAt, traceparent: "" });
  const read = await readTimeline(requestId, requests, progress, { giveUpAt });
  if (!read.ok) return answer(read);
  if (decoded.value.dryRun) return answer({ ok: true, recorded: read.timeline });

  const run = replayRun(requestId, read.request, {
    replyTo: inbox,
    now: Date.now(),
    traceparent: traceparentHere(msg.headers?.get(Header.traceparent)),
  });
  try {
    await publishStored(ctx.js, INTERNAL_SUBJECTS.requestRun(run.requestId), encodeInternal(run), {
      msgID: MESSAGE_IDS.requestRun(run.requestId),
      headers: internalHeaders(run),
      giveUpAt,
    });
  } catch (error) {
    ctx.log.warn({ err: error, requestId }, "a replay could not be queued");
    answer({
      ok: false,
      error: { code: ErrorCode.INTERNAL, message: "the replay could not be queued; send it again" },
    });
  }
}

const EMPTY_JSON = new TextEncoder().encode("{}");

/**
 * The run of a replay of `replayOf`: a request of its own, under a new id of the same tenant, with the
 * recorded request's tools and options except two. Speculation is off: it would ask the fast model and
 * start guessed calls. The result cache is bypassed: it would answer for the tools as they were.
 */
export function replayRun(
  replayOf: string,
  recorded: RecordedRequest,
  at: { replyTo: string; now: number; traceparent: string },
  id = newRequestId("replay"),
): ReplayRun {
  const tenant = tenantOfRequestId(replayOf);
  const options = { ...recorded.options, speculation: false, cache: false };
  return {
    requestId: tenant === undefined ? id : tenantRequestId(tenant, id),
    deadline: at.now + options.timeoutMs,
    traceparent: at.traceparent,
    attempt: 1,
    request: { ...recordedRequest(recorded), id, options },
    replayOf,
    replyTo: at.replyTo,
    replyEncoding: ContentType.json,
    acceptedAt: at.now,
  };
}
