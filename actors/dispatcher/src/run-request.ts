import type { KV } from "@nats-io/kv";
import { headers } from "@nats-io/transport-node";
import {
  cancelSubject,
  CancelReason,
  ContentType,
  encode,
  EventType,
  Header,
  RequestRecordSchema,
  RequestStatus,
  subjectToken,
  type OrchestrateReply,
  type RequestRecord,
  type RequestRun,
} from "@toolformer/protocol";
import {
  ack,
  contentTypeHeaders,
  decodeValidated,
  encodeInternal,
  fitInOneMessage,
  messageBudget,
  retry,
  untilStored,
  type ActorContext,
  type Delivery,
  type Directive,
  type SpeculationLedgerStore,
} from "@toolformer/runtime";
import { HANDED_BACK, modelLoop, type LoopDeps } from "./model-loop.ts";
import { RequestProgress } from "./progress.ts";
import { finalReply } from "./reply.ts";
import { SpeculationFeed } from "./speculation-feed.ts";

/** A reply is still written this long past the deadline while JetStream elects a leader (a timeout has a reply too). */
const REPLY_WRITE_GRACE_MS = 30_000;

export interface RunnerDeps extends LoopDeps {
  requests: KV;
  /** Whether requests that do not say speculate. */
  speculationDefault: boolean;
  ledger: SpeculationLedgerStore;
}

/**
 * Runs one accepted request to its reply: the model loop (which goes on from the request's recorded
 * progress when another dispatcher ran it before), then the reply to the client's inbox and into the
 * idempotency record. A stopping copy hands the request back (`retry(0)`) at the next recorded step.
 */
export async function runRequest(
  run: RequestRun,
  delivery: Delivery,
  ctx: ActorContext,
  deps: RunnerDeps,
): Promise<Directive> {
  const key = subjectToken(run.requestId);
  const stored = await storedReply(deps.requests, key, run.deadline);
  if (stored) {
    // Its dispatcher stored the reply and may have died before sending it: send it (a client that got
    // it already sees it twice only if that dispatcher died between sending and acking).
    sendReply(ctx, run, stored);
    return ack();
  }

  const controller = new AbortController();
  const stopListening = ctx.cancellations.onCancel(run.requestId, (reason) => controller.abort(reason));
  const deadlineTimer = setTimeout(
    () => {
      // Everyone working on this request stops: the deadline is broadcast like a cancel.
      const h = headers();
      h.set(Header.cancelReason, CancelReason.timeout);
      ctx.nc.publish(cancelSubject(run.requestId), undefined, { headers: h });
      ctx.cancellations.cancel(run.requestId, CancelReason.timeout);
    },
    Math.max(0, run.deadline - Date.now()),
  );

  const speculate = run.request.options.speculation ?? deps.speculationDefault;
  const feed = new SpeculationFeed(ctx, run, speculate ? deps.ledger : undefined);
  const resume = {
    progress: new RequestProgress(ctx, run),
    takeover: delivery.deliveryCount > 1,
    stopping: delivery.stopping,
  };
  let outcome;
  try {
    outcome = await modelLoop(run, ctx, deps, feed, controller.signal, resume);
  } finally {
    clearTimeout(deadlineTimer);
    stopListening();
  }
  if (outcome === HANDED_BACK) {
    ctx.log.info({ requestId: run.requestId }, "stopping: handed the request back at a recorded step");
    return retry(0);
  }

  const reply = await fitted(ctx, run, finalReply(run.requestId, outcome, run.acceptedAt, Date.now()));
  const record: RequestRecord = { state: "finished", reply };
  await untilStored(() => deps.requests.put(key, encodeInternal(record)), {
    giveUpAt: Math.max(run.deadline, Date.now()) + REPLY_WRITE_GRACE_MS,
  });
  sendReply(ctx, run, reply);
  await feed.finished(reply.status === RequestStatus.completed);
  await ctx.events.publish(
    {
      type: EventType.requestCompleted,
      requestId: run.requestId,
      status: reply.status,
      rounds: reply.rounds,
      ...(reply.error === undefined ? {} : { error: reply.error }),
    },
    run.traceparent,
  );
  return ack();
}

function sendReply(ctx: ActorContext, run: RequestRun, reply: OrchestrateReply): void {
  if (!run.replyTo) return;
  ctx.nc.publish(run.replyTo, encode(reply, run.replyEncoding), { headers: contentTypeHeaders(run.replyEncoding) });
}

/** The reply, with its largest results moved to the object store if together they exceed one message. */
async function fitted(ctx: ActorContext, run: RequestRun, reply: OrchestrateReply): Promise<OrchestrateReply> {
  const size = encode(reply, ContentType.json).byteLength;
  const store = ctx.objectStores.results;
  return {
    ...reply,
    toolCalls: await fitInOneMessage(store, run.requestId, reply.toolCalls, size, messageBudget(ctx.nc)),
  };
}

/** The reply stored for this request, if a dispatcher finished it already. */
async function storedReply(requests: KV, key: string, deadline: number): Promise<OrchestrateReply | undefined> {
  const entry = await untilStored(() => requests.get(key), { giveUpAt: deadline });
  if (!entry || entry.operation !== "PUT") return undefined;
  const decoded = decodeValidated(entry.value, undefined, RequestRecordSchema, "msgpack");
  return decoded.ok && decoded.value.state === "finished" ? (decoded.value.reply as OrchestrateReply) : undefined;
}
