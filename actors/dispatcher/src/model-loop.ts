import {
  CancelReason,
  describeCancel,
  ErrorCode,
  EventType,
  RequestStatus,
  toErrorBody,
  type PlannedCall,
  type RequestRun,
  type ToolCallRecord,
  type ToolDefinition,
  type TurnRecord,
} from "@toolformer/protocol";
import type { ModelToolCall, ProviderRegistry } from "@toolformer/providers";
import { readResultPrefix, type ActorContext, type ConfiguredScopes } from "@toolformer/runtime";
import { appendRound, initialConversation, planCall, planTakingOver, type CallNaming } from "./conversation.ts";
import { estimateTurnTokens, modelScopes, type ModelLimits } from "./model-limits.ts";
import { modelPermits } from "./model-permits.ts";
import { askModel } from "./model-turn.ts";
import type { RequestProgress } from "./progress.ts";
import type { LoopOutcome } from "./reply.ts";
import type { RoundClient, RoundHandle } from "./round-client.ts";
import type { SpeculationFeed } from "./speculation-feed.ts";
import type { ToolCatalog } from "./tool-catalog.ts";

export interface LoopDeps {
  catalog: ToolCatalog;
  providers: ProviderRegistry;
  rounds: RoundClient;
  modelLimits: ModelLimits;
  configuredScopes: ConfiguredScopes;
}

/** How one run of the loop goes on from the request's durable progress. */
export interface LoopResume {
  progress: RequestProgress;
  /** Another dispatcher ran the request before: read what it recorded before asking anything. */
  takeover: boolean;
  /** This copy is stopping: hand the request back at the next step that is safely recorded. */
  stopping: AbortSignal;
}

/** The loop stopped at a recorded step because its copy is stopping; another dispatcher goes on from there. */
export const HANDED_BACK = Symbol("handed back");

/**
 * The model loop of one request: ask the model, record its turn, hand its tool calls to the scheduler
 * as a round, feed the results back, until the model answers, the round budget is spent, the request
 * is cancelled or its deadline passes. Each turn is recorded before its calls are handed on, so a
 * dispatcher that takes the request over replays recorded turns and finished rounds instead of asking
 * the model again; only a turn that was in flight is asked again.
 */
export async function modelLoop(
  run: RequestRun,
  ctx: ActorContext,
  deps: LoopDeps,
  feed: SpeculationFeed,
  signal: AbortSignal,
  resume: LoopResume,
): Promise<LoopOutcome | typeof HANDED_BACK> {
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
  ): LoopOutcome => ({ status, toolCalls, rounds, usage, modelMs, toolsMs, ...extra });

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
  let conversation = initialConversation(request);
  const usedIds = new Set<string>();
  const { progress, stopping } = resume;

  try {
    for (let round = 1; round <= request.options.maxRounds; round++) {
      let turn = resume.takeover ? await progress.turn(round) : undefined;
      let handle: RoundHandle | undefined;
      if (turn) {
        for (const call of turn.planned) usedIds.add(call.callId);
      } else {
        if (stopping.aborted) return HANDED_BACK;
        // A turn its dispatcher died writing may have handed some calls on already.
        const handed = resume.takeover ? await progress.handed(round) : [];
        await ctx.events.publish({ type: EventType.modelRequested, requestId: run.requestId, round }, run.traceparent);
        const modelStart = Date.now();
        feed.turnStarting(round, offered, (tool) => deps.catalog.capacityOf(tool));
        handle = await deps.rounds.begin(run, request, round, feed.speculating, progress, handed);
        const naming: CallNaming = { used: usedIds, renamed: new Map() };
        // Early dispatch: each call goes to the scheduler as soon as the model has finished writing it.
        const early = new Map<string, PlannedCall>();
        const onToolCall =
          request.options.earlyDispatch && handed.length === 0
            ? (call: ModelToolCall) => {
                const planned = planCall(call, early.size, round, catalog, naming);
                early.set(call.id, planned);
                handle?.add(planned);
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
        const answered = await askModel(resolved.provider, turnRequest, {
          signal,
          deadline: run.deadline,
          permits,
          log: ctx.log.child({ requestId: run.requestId }),
          ...(onToolCall ? { onToolCall } : {}),
        }).catch((error: unknown) => {
          handle?.discard();
          throw error;
        });
        const planned =
          handed.length > 0
            ? planTakingOver(answered.toolCalls, handed, round, catalog, naming)
            : answered.toolCalls.map(
                (call, index) => early.get(call.id) ?? planCall(call, index, round, catalog, naming),
              );
        turn = await progress.record({
          requestId: run.requestId,
          round,
          ...(answered.text === undefined ? {} : { text: answered.text }),
          toolCalls: answered.toolCalls,
          usage: answered.usage,
          stopReason: answered.stopReason,
          planned,
          modelMs: Date.now() - modelStart,
        });
        await ctx.events.publish(
          {
            type: EventType.modelResponded,
            requestId: run.requestId,
            round,
            toolCalls: turn.toolCalls.length,
            durationMs: turn.modelMs,
            usage: turn.usage,
          },
          run.traceparent,
        );
      }
      countTurn(turn);
      if (turn.toolCalls.length === 0) {
        handle?.discard();
        return outcome(RequestStatus.completed, { answer: turn.text ?? "" });
      }

      rounds = round;
      if (stopping.aborted) {
        handle?.discard();
        return HANDED_BACK;
      }
      handle ??= await deps.rounds.begin(run, request, round, feed.speculating, progress, await progress.handed(round));
      const toolsStart = Date.now();
      const finished = await handle.finish(turn.planned, signal, stopping);
      if (finished === undefined) return HANDED_BACK;
      toolsMs += Date.now() - toolsStart;
      // Calls of an abandoned turn that the turn asked again did not take over ran, but are not its calls.
      const plannedIds = new Set(turn.planned.map((call) => call.callId));
      const records = finished.calls.filter((record) => plannedIds.has(record.id));
      toolCalls.push(...records);
      feed.roundFinished(records);
      if (signal.aborted) break;
      if (finished.rejected) return outcome(RequestStatus.failed, { error: finished.rejected });
      conversation = appendRound(conversation, turn, turn.planned, records, await spilledForModel(ctx, records));
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

  function countTurn(turn: TurnRecord): void {
    modelMs += turn.modelMs;
    usage.inputTokens += turn.usage.inputTokens;
    usage.outputTokens += turn.usage.outputTokens;
    usage.totalTokens = usage.inputTokens + usage.outputTokens;
    usage.rounds.push({ round: turn.round, ...turn.usage });
  }
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
