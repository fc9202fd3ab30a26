import { headers } from "@nats-io/transport-node";
import {
  cancelSubject,
  CancelReason,
  ErrorCode,
  Header,
  toErrorBody,
  type RequestRun,
  type ToolCallRecord,
  type ToolDefinition,
} from "@toolformer/protocol";
import type { ModelProvider } from "@toolformer/providers";
import { type ActorContext, type Effects } from "@toolformer/runtime";
import { type ConfiguredScopes, type UpstreamBlocks } from "@toolformer/rate-limit-client";
import { readResultPrefix } from "@toolformer/result-store";
import type { RunRequest } from "./conversation.ts";
import { estimateTurnTokens, modelScopes, type ModelLimits } from "./model-limits.ts";
import type { LoopCommand, LoopEvent } from "./model-loop.ts";
import { modelPermits } from "./model-permits.ts";
import { askModel } from "./model-turn.ts";
import type { RequestProgress } from "./progress.ts";
import { replayedAnswer } from "./replayed-turns.ts";
import type { RoundClient } from "./round-client.ts";
import type { SpeculationFeed } from "./speculation-feed.ts";
import type { ToolCatalog } from "./tool-catalog.ts";

/**
 * Where the loop's turns come from: the model, or, for a replay (ADR 0027), the turns the replayed
 * request recorded, in which case no model is asked.
 */
export type TurnSource =
  | {
      kind: "model";
      provider: ModelProvider;
      /** The model's name at its provider. */
      model: string;
      offered: ToolDefinition[];
    }
  | { kind: "recorded"; replayOf: string; original: Pick<RequestProgress, "turn"> };

export interface LoopWorld {
  ctx: ActorContext;
  run: RequestRun;
  turns: TurnSource;
  catalog: ToolCatalog;
  modelLimits: ModelLimits;
  configuredScopes: ConfiguredScopes;
  upstreamBlocks: UpstreamBlocks;
  progress: RequestProgress;
  rounds: RoundClient;
  feed: SpeculationFeed;
  /** Fires when the loop is over: waits still running stop. */
  over: AbortSignal;
}

/** How the model loop's commands are carried out on NATS and at the model's provider. */
export function loopEffects(world: LoopWorld): Effects<LoopEvent, LoopCommand> {
  const { ctx, run, progress, rounds, feed } = world;
  let modelTurn = new AbortController();
  return async (command, emit) => {
    switch (command.kind) {
      case "readProgress": {
        const [turn, handed] = await Promise.all([progress.turn(command.round), progress.handed(command.round)]);
        return emit({ type: "progressRead", round: command.round, turn, handed });
      }
      case "askModel": {
        const { round, messages, earlyDispatch } = command;
        const source = world.turns;
        if (source.kind === "recorded")
          return emit(replayedAnswer(await source.original.turn(round), round, source.replayOf));
        modelTurn = new AbortController();
        feed.turnStarting(round, source.offered, (tool) => world.catalog.capacityOf(tool));
        const request: RunRequest = run.request;
        const turnRequest = {
          model: source.model,
          ...(request.system === undefined ? {} : { system: request.system }),
          messages,
          tools: source.offered,
        };
        const permits = modelPermits(
          ctx.nc,
          run,
          round,
          [
            ...modelScopes(world.modelLimits, request.model, estimateTurnTokens(turnRequest)),
            ...world.configuredScopes.for({ kind: "model", name: request.model }, request.options.tenant),
          ],
          world.upstreamBlocks,
        );
        try {
          const answer = await askModel(source.provider, turnRequest, {
            signal: modelTurn.signal,
            deadline: run.deadline,
            permits,
            log: ctx.log.child({ requestId: run.requestId }),
            genAi: ctx.metrics.genAi,
            ...(earlyDispatch ? { onToolCall: (call) => emit({ type: "callStreamed", round, call }) } : {}),
          });
          return emit({ type: "modelAnswered", round, answer });
        } catch (error) {
          if (!modelTurn.signal.aborted) ctx.log.warn({ err: error, requestId: run.requestId }, "request failed");
          return emit({ type: "modelFailed", round, error: toErrorBody(error, ErrorCode.PROVIDER_ERROR) });
        }
      }
      case "abortModel":
        return modelTurn.abort();
      case "handCall":
        return void (await rounds.handCall(command.round, command.call, command.handedBefore));
      case "recordTurn":
        return emit({ type: "turnRecorded", turn: await progress.record(command.turn) });
      case "finishRound": {
        await rounds.finish(command.round, command.calls, command.handed);
        const outcome = await rounds.awaitDone(command.round, world.over);
        if (!outcome) return;
        const spilled = await spilledForModel(ctx, outcome.calls);
        return emit({ type: "roundDone", round: command.round, outcome, spilled });
      }
      case "publishEvent":
        return ctx.events.publish(command.event, run.traceparent);
      case "broadcastTimeout": {
        const h = headers();
        h.set(Header.cancelReason, CancelReason.timeout);
        ctx.nc.publish(cancelSubject(run.requestId), undefined, { headers: h });
        return ctx.cancellations.cancel(run.requestId, CancelReason.timeout);
      }
      case "roundFinished":
        return feed.roundFinished(command.records);
    }
  };
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
