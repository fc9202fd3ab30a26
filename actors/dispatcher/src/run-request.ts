import type { KV } from "@nats-io/kv";
import { headers } from "@nats-io/transport-node";
import {
  cancelSubject,
  CancelReason,
  ContentType,
  describeCancel,
  encode,
  ErrorCode,
  EventType,
  Header,
  RequestRecordSchema,
  RequestStatus,
  subjectToken,
  toErrorBody,
  type OrchestrateReply,
  type PlannedCall,
  type RequestRecord,
  type RequestRun,
  type ToolCallRecord,
  type ToolDefinition,
} from "@toolformer/protocol";
import type { ConversationMessage, ModelToolCall, ProviderRegistry } from "@toolformer/providers";
import {
  ack,
  contentTypeHeaders,
  decodeValidated,
  encodeInternal,
  fitInOneMessage,
  messageBudget,
  readResultPrefix,
  type ActorContext,
  type Delivery,
  type ConfiguredScopes,
  type Directive,
  type SpeculationLedgerStore,
} from "@toolformer/runtime";
import { appendRound, initialConversation, planCall, type CallNaming } from "./conversation.ts";
import { estimateTurnTokens, modelScopes, type ModelLimits } from "./model-limits.ts";
import { modelPermits } from "./model-permits.ts";
import { askModel } from "./model-turn.ts";
import { finalReply, type LoopOutcome } from "./reply.ts";
import type { RoundClient } from "./round-client.ts";
import { SpeculationFeed } from "./speculation-feed.ts";
import type { ToolCatalog } from "./tool-catalog.ts";

export interface RunnerDeps {
  requests: KV;
  catalog: ToolCatalog;
  providers: ProviderRegistry;
  rounds: RoundClient;
  modelLimits: ModelLimits;
  configuredScopes: ConfiguredScopes;
  /** Whether requests that do not say speculate. */
  speculationDefault: boolean;
  ledger: SpeculationLedgerStore;
}

/**
 * The model loop of one request: ask the model, hand its tool calls to the scheduler as a round, feed
 * the results back, until the model answers, the round budget is spent, the request is cancelled or its
 * deadline passes. The reply goes to the client's inbox and into the idempotency record.
 */
export async function runRequest(
  run: RequestRun,
  _delivery: Delivery,
  ctx: ActorContext,
  deps: RunnerDeps,
): Promise<Directive> {
  const key = subjectToken(run.requestId);
  if (await alreadyFinished(deps.requests, key)) return ack(); // a redelivery after the reply went out

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
  let outcome: LoopOutcome;
  try {
    outcome = await modelLoop(run, ctx, deps, feed, controller.signal);
  } finally {
    clearTimeout(deadlineTimer);
    stopListening();
  }

  const reply = await fitted(ctx, run, finalReply(run.requestId, outcome, run.acceptedAt, Date.now()));
  const record: RequestRecord = { state: "finished", reply };
  await deps.requests.put(key, encodeInternal(record));
  if (run.replyTo)
    ctx.nc.publish(run.replyTo, encode(reply, run.replyEncoding), { headers: contentTypeHeaders(run.replyEncoding) });
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

async function modelLoop(
  run: RequestRun,
  ctx: ActorContext,
  deps: RunnerDeps,
  feed: SpeculationFeed,
  signal: AbortSignal,
): Promise<LoopOutcome> {
  const request = run.request;
  const toolCalls: ToolCallRecord[] = [];
  const usage = {
    inputTokens: 0,
    outputTokens: 0,
    totalTokens: 0,
    rounds: [] as { round: number; inputTokens: number; outputTokens: number }[],
  };
  let modelMs = 0;
  let toolsMs = 0;
  let rounds = 0;
  const outcome = (
    status: LoopOutcome["status"],
    extra: { answer?: string; error?: LoopOutcome["error"] } = {},
  ): LoopOutcome => ({
    status,
    toolCalls,
    rounds,
    usage,
    modelMs,
    toolsMs,
    ...extra,
  });

  const resolved = deps.providers.resolve(request.model);
  if (!resolved)
    return outcome(RequestStatus.failed, {
      error: { code: ErrorCode.UNKNOWN_MODEL, message: `no provider for ${request.model}` },
    });
  const catalog = deps.catalog.available();
  const offered: ToolDefinition[] = (request.tools ?? [...catalog.keys()]).flatMap((name) => {
    const definition = catalog.get(name);
    return definition ? [definition] : [];
  });
  let conversation: ConversationMessage[] = initialConversation(request);
  const usedIds = new Set<string>();

  try {
    for (let round = 1; round <= request.options.maxRounds; round++) {
      await ctx.events.publish({ type: EventType.modelRequested, requestId: run.requestId, round }, run.traceparent);
      const modelStart = Date.now();
      feed.turnStarting(round, offered, (tool) => deps.catalog.capacityOf(tool));
      const handle = await deps.rounds.begin(run, request, round, feed.speculating);
      const naming: CallNaming = { used: usedIds, renamed: new Map() };
      // Early dispatch: each call goes to the scheduler as soon as the model has finished writing it.
      const early = new Map<string, PlannedCall>();
      const onToolCall = request.options.earlyDispatch
        ? (call: ModelToolCall) => {
            const planned = planCall(call, early.size, round, catalog, naming);
            early.set(call.id, planned);
            handle.add(planned);
          }
        : undefined;
      const turnRequest = {
        model: resolved.model,
        ...(request.system === undefined ? {} : { system: request.system }),
        messages: conversation,
        tools: offered,
      };
      const permits = modelPermits(ctx.nc, run, round, [
        ...modelScopes(deps.modelLimits, request.model, estimateTurnTokens(turnRequest)),
        ...deps.configuredScopes.for({ kind: "model", name: request.model }, request.options.tenant),
      ]);
      const turn = await askModel(resolved.provider, turnRequest, {
        signal,
        deadline: run.deadline,
        permits,
        log: ctx.log.child({ requestId: run.requestId }),
        ...(onToolCall ? { onToolCall } : {}),
      }).catch((error: unknown) => {
        handle.discard();
        throw error;
      });
      modelMs += Date.now() - modelStart;
      usage.inputTokens += turn.usage.inputTokens;
      usage.outputTokens += turn.usage.outputTokens;
      usage.totalTokens = usage.inputTokens + usage.outputTokens;
      usage.rounds.push({ round, ...turn.usage });
      await ctx.events.publish(
        {
          type: EventType.modelResponded,
          requestId: run.requestId,
          round,
          toolCalls: turn.toolCalls.length,
          durationMs: Date.now() - modelStart,
          usage: turn.usage,
        },
        run.traceparent,
      );
      if (turn.toolCalls.length === 0) {
        handle.discard();
        return outcome(RequestStatus.completed, { answer: turn.text ?? "" });
      }

      rounds = round;
      const planned = turn.toolCalls.map(
        (call, index) => early.get(call.id) ?? planCall(call, index, round, catalog, naming),
      );
      const toolsStart = Date.now();
      const { calls: records, rejected } = await handle.finish(planned, signal);
      toolsMs += Date.now() - toolsStart;
      toolCalls.push(...records);
      feed.roundFinished(records);
      if (signal.aborted) break;
      if (rejected) return outcome(RequestStatus.failed, { error: rejected });
      conversation = appendRound(conversation, turn, planned, records, await spilledForModel(ctx, records));
    }
  } catch (error) {
    if (!signal.aborted) {
      ctx.log.warn({ err: error, requestId: run.requestId }, "request failed");
      return outcome(RequestStatus.failed, { error: toErrorBody(error, ErrorCode.PROVIDER_ERROR) });
    }
  }
  if (signal.aborted) {
    const timedOut = signal.reason === CancelReason.timeout;
    return outcome(timedOut ? RequestStatus.timeout : RequestStatus.cancelled, {
      error: timedOut
        ? { code: ErrorCode.TIMEOUT, message: `the request did not finish within ${request.options.timeoutMs} ms` }
        : { code: ErrorCode.CANCELLED, message: describeCancel(CancelReason.client) },
    });
  }
  return outcome(RequestStatus.failed, {
    error: {
      code: ErrorCode.MAX_ROUNDS_EXCEEDED,
      message: `the model still asked for tools after ${request.options.maxRounds} rounds`,
    },
  });
}

/** The model is shown this much of a result kept in the object store (a context has its limits). */
const MODEL_RESULT_MAX_BYTES = 64 * 1024;

/** For each result kept in the object store: its beginning, and where the rest is. */
async function spilledForModel(ctx: ActorContext, records: ToolCallRecord[]): Promise<Map<string, string>> {
  const shown = new Map<string, string>();
  const store = ctx.objectStores.results;
  for (const record of records) {
    if (!record.resultRef || !store) continue;
    const { bytes, bucket, name } = record.resultRef;
    const prefix = (await readResultPrefix(store, record.resultRef, MODEL_RESULT_MAX_BYTES)) ?? "";
    shown.set(
      record.id,
      bytes <= MODEL_RESULT_MAX_BYTES
        ? prefix
        : `${prefix}\n[truncated: the result is ${bytes} bytes; the first ${MODEL_RESULT_MAX_BYTES} are shown; all of it is object ${name} in ${bucket}]`,
    );
  }
  return shown;
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

async function alreadyFinished(requests: KV, key: string): Promise<boolean> {
  const entry = await requests.get(key);
  if (!entry || entry.operation !== "PUT") return false;
  const decoded = decodeValidated(entry.value, undefined, RequestRecordSchema, "msgpack");
  return decoded.ok && decoded.value.state === "finished";
}
