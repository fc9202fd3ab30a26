import { nuid } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import {
  ContentType,
  encode,
  ErrorCode,
  EventType,
  RequestStatus,
  subjectToken,
  toErrorBody,
  type OrchestrateReply,
  type RequestRecord,
  type RequestRun,
  type ToolDefinition,
} from "@toolformer/protocol";
import {
  ack,
  contentTypeHeaders,
  drive,
  encodeInternal,
  handBack,
  isTransient,
  leave,
  publishConfirmed,
  retryUntil,
  untilStored,
  type ActorContext,
  type Delivery,
  type Directive,
  inSpan,
  traceparentHere,
  type Span,
} from "@toolformer/runtime";
import { type ConfiguredScopes, type UpstreamBlocks } from "@toolformer/rate-limit-client";
import { fitInOneMessage, messageBudget } from "@toolformer/result-store";
import { type SpeculationLedgerStore } from "@toolformer/speculation-ledger";
import type { ProviderRegistry } from "@toolformer/providers";
import { loopEffects, type TurnSource } from "./loop-effects.ts";
import type { ModelLimits } from "./model-limits.ts";
import {
  failedOutcome,
  HANDED_BACK,
  initialLoopState,
  loopResult,
  modelLoop,
  SUPERSEDED,
  type LoopResult,
} from "./model-loop.ts";
import { RequestProgress } from "./progress.ts";
import { answerReplay } from "./replay-answer.ts";
import { requestSpanAttributes, requestSpanEnd } from "./request-span.ts";
import { finalReply } from "./reply.ts";
import { RoundClient } from "./round-client.ts";
import { SpeculationFeed } from "./speculation-feed.ts";
import type { ToolCatalog } from "./tool-catalog.ts";
import { readRecord } from "./request-record.ts";
import type { RequestMetrics } from "./request-metrics.ts";

/** A reply is still written this long past the deadline while JetStream elects a leader (a timeout has a reply too). */
const REPLY_WRITE_GRACE_MS = 30_000;

export interface RunnerDeps {
  requests: KV;
  catalog: ToolCatalog;
  providers: ProviderRegistry;
  modelLimits: ModelLimits;
  configuredScopes: ConfiguredScopes;
  /** What this dispatcher knows of upstream blocks on its models' block-only scopes. */
  upstreamBlocks: UpstreamBlocks;
  /** Whether requests that do not say speculate. */
  speculationDefault: boolean;
  ledger: SpeculationLedgerStore;
  requestMetrics: RequestMetrics;
}

/**
 * Runs one accepted request to its reply: drives its model loop (`model-loop.ts`), which goes on from
 * the request's recorded progress when another dispatcher ran it before, then sends the reply to the
 * client's inbox and stores it in the idempotency record. A stopping copy hands the request back at the
 * next recorded step.
 */
export function runRequest(
  run: RequestRun,
  delivery: Delivery,
  ctx: ActorContext,
  deps: RunnerDeps,
): Promise<Directive> {
  return inSpan("orchestrate.run", { attributes: requestSpanAttributes(run) }, (span) =>
    // Whatever this run sends on (rounds, permits, events, speculation) names the request's span as its parent.
    runInSpan({ ...run, traceparent: traceparentHere(run.traceparent) }, delivery, ctx, deps, span),
  );
}

async function runInSpan(
  run: RequestRun,
  delivery: Delivery,
  ctx: ActorContext,
  deps: RunnerDeps,
  span: Span,
): Promise<Directive> {
  const speculate = run.request.options.speculation ?? deps.speculationDefault;
  const feed = new SpeculationFeed(ctx, run, speculate ? deps.ledger : undefined);
  const record = await claimOrRead(run, delivery, deps);
  if (record?.state === "finished") {
    // Its dispatcher stored the reply and may have died before it ended the request's speculation and
    // sent the reply (a node's death can hold those writes up for seconds): do both.
    await feed.endSpeculation();
    await answer(ctx, run, deps, record.reply as OrchestrateReply);
    return ack();
  }
  if (!record) await announceAccepted(run, ctx, deps);
  const result = await driveLoop(run, delivery, ctx, deps, feed);
  if (result === HANDED_BACK) {
    ctx.log.info({ requestId: run.requestId }, "stopping: handed the request back at a recorded step");
    return handBack();
  }
  if (result === SUPERSEDED) {
    ctx.log.warn({ requestId: run.requestId }, "another dispatcher runs this request now (this run's lease lapsed)");
    return leave();
  }

  // The id the client knows: a tenant's request runs under its tenant-qualified `requestId`.
  const clientId = run.request.id ?? run.requestId;
  const reply = await fitted(ctx, run, finalReply(clientId, result, run.acceptedAt, Date.now()));
  span.setAttributes(requestSpanEnd(reply));
  const finished: RequestRecord = { state: "finished", reply, ...(run.replyTo ? { repliedTo: run.replyTo } : {}) };
  await untilStored(() => deps.requests.put(subjectToken(run.requestId), encodeInternal(finished)), {
    giveUpAt: Math.max(run.deadline, Date.now()) + REPLY_WRITE_GRACE_MS,
  });
  deps.requestMetrics.answered(ctx, run, reply);
  // Side by side: the transcript for the speculation engine and the last event go to different streams,
  // and neither waits for the other (nothing reads one in the light of the other).
  await Promise.all([
    feed.finished(reply.status === RequestStatus.completed),
    ctx.events.publish(
      {
        type: EventType.requestCompleted,
        requestId: run.requestId,
        status: reply.status,
        rounds: reply.rounds,
        ...(reply.error === undefined ? {} : { error: reply.error }),
      },
      run.traceparent,
    ),
  ]);
  // Sent last, right before the ack: a copy that dies after storing the reply and before sending it is
  // covered by the next run sending the stored reply; one that dies between sending and acking (a
  // window of one write) is the only way a client hears the reply twice.
  await answer(ctx, run, deps, reply);
  return ack();
}

/** Runs the model loop machine with this dispatcher's effects, cancels and stop signal. */
async function driveLoop(
  run: RequestRun,
  delivery: Delivery,
  ctx: ActorContext,
  deps: RunnerDeps,
  feed: SpeculationFeed,
): Promise<LoopResult> {
  const catalog = deps.catalog.available();
  const runner = `${ctx.actorId}:${nuid.next()}`;
  const setup = { requestId: run.requestId, request: run.request, deadline: run.deadline, runner, catalog };
  const turns = turnSource(run, ctx, deps, catalog);
  if (!turns) {
    const error = { code: ErrorCode.UNKNOWN_MODEL, message: `no provider for ${run.request.model}` };
    return failedOutcome(initialLoopState(setup), error);
  }
  const progress = new RequestProgress(ctx, run);
  const over = new AbortController();
  const effects = loopEffects({
    ctx,
    run,
    turns,
    catalog: deps.catalog,
    modelLimits: deps.modelLimits,
    configuredScopes: deps.configuredScopes,
    upstreamBlocks: deps.upstreamBlocks,
    progress,
    rounds: new RoundClient(ctx, run, feed.speculating, progress),
    feed,
    over: over.signal,
  });
  const loop = drive(modelLoop, initialLoopState(setup), effects, {
    onEffectFailed: (_command, error) => ({ type: "failed" as const, error: toErrorBody(error, ErrorCode.INTERNAL) }),
  });
  const stopListening = ctx.cancellations.onCancel(run.requestId, (reason) => loop.emit({ type: "cancelled", reason }));
  const onStopping = () => loop.emit({ type: "stopping" });
  delivery.stopping.addEventListener("abort", onStopping, { once: true });
  try {
    loop.emit({ type: "started", takeover: delivery.redelivered });
    if (delivery.stopping.aborted) onStopping();
    const result = loopResult(await loop.final);
    if (!result) throw new Error("the model loop ended without a result");
    return result;
  } finally {
    over.abort();
    stopListening();
    delivery.stopping.removeEventListener("abort", onStopping);
  }
}

/**
 * Who answers the run's turns: the request's model, offered the tools it asked for (undefined: no
 * provider serves it); for a replay, the turns its request recorded, so no model is needed (ADR 0027).
 */
function turnSource(
  run: RequestRun,
  ctx: ActorContext,
  deps: RunnerDeps,
  catalog: ReadonlyMap<string, ToolDefinition>,
): TurnSource | undefined {
  if (run.replayOf !== undefined) {
    const original = new RequestProgress(ctx, { ...run, requestId: run.replayOf });
    return { kind: "recorded", replayOf: run.replayOf, original };
  }
  const resolved = deps.providers.resolve(run.request.model);
  if (!resolved) return undefined;
  const offered = (run.request.tools ?? [...catalog.keys()]).flatMap((name) => {
    const definition = catalog.get(name);
    return definition ? [definition] : [];
  });
  return { kind: "model", provider: resolved.provider, model: resolved.model, offered };
}

/** Answers the client: the reply, or for a replay the reply against the replayed request's records. */
async function answer(ctx: ActorContext, run: RequestRun, deps: RunnerDeps, reply: OrchestrateReply): Promise<void> {
  if (run.replayOf !== undefined) return answerReplay(ctx, run, deps.requests, reply);
  const replyTo = run.replyTo;
  if (!replyTo) return;
  // Confirmed by the server, or sent again after a reconnect: a reply written to a node that died with
  // it would leave the client waiting out its whole timeout for an answer the record already holds.
  const data = encode(reply, run.replyEncoding);
  const headers = contentTypeHeaders(run.replyEncoding);
  await publishConfirmed(ctx.nc, () => ctx.nc.publish(replyTo, data, { headers }), {
    giveUpAt: Math.max(run.deadline, Date.now()) + REPLY_WRITE_GRACE_MS,
  });
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

/**
 * The request's record as it stood before this run (undefined: none), with the id claimed when it was
 * free. A redelivered request is read first, as earlier work may exist. A first delivery claims first:
 * the front door queues no request whose record exists, so the create almost always succeeds, and the
 * read is needed only when it is refused; that saves a round trip on nearly every request.
 */
async function claimOrRead(run: RequestRun, delivery: Delivery, deps: RunnerDeps): Promise<RequestRecord | undefined> {
  if (!delivery.redelivered && (await claimRecord(run, deps)) === "claimed") return undefined;
  const record = await readRecord(deps.requests, subjectToken(run.requestId), { giveUpAt: retryUntil(run.deadline) });
  if (!record) await claimRecord(run, deps);
  return record;
}

/**
 * Writes the request's `running` record, by which the front door knows a repeated id. `existed`: the
 * create was refused at its first try, so the record was there before. A create refused after a try
 * that went unanswered lost to that very try, or to a copy of this run that wrote it meanwhile: the
 * claim is done either way.
 */
async function claimRecord(run: RequestRun, deps: RunnerDeps): Promise<"claimed" | "existed"> {
  const record: RequestRecord = { state: "running", acceptedAt: run.acceptedAt, deadline: run.deadline };
  let lastTry = 0;
  try {
    await untilStored(
      (attempt) => {
        lastTry = attempt;
        return deps.requests.create(subjectToken(run.requestId), encodeInternal(record));
      },
      { giveUpAt: retryUntil(run.deadline) },
    );
    return "claimed";
  } catch (error) {
    if (isTransient(error)) throw error;
    return lastTry > 1 ? "claimed" : "existed";
  }
}

/**
 * The first run of a request, once its record is written, announces it accepted, so `request.accepted`
 * is stored before any other event of the request. The event's content-derived id keeps a second
 * announcement (a copy of this run) from being stored.
 */
async function announceAccepted(run: RequestRun, ctx: ActorContext, deps: RunnerDeps): Promise<void> {
  const giveUpAt = retryUntil(run.deadline);
  await ctx.events.publish(
    {
      type: EventType.requestAccepted,
      requestId: run.requestId,
      model: run.request.model,
      tools: run.request.tools ?? [...deps.catalog.available().keys()],
    },
    run.traceparent,
    { giveUpAt },
  );
}
