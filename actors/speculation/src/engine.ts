import type { KV } from "@nats-io/kv";
import {
  canonicalJson,
  EventType,
  redactPaths,
  sensitivePaths,
  SpeculativeCallState,
  type ExecCall,
  type OfferedTool,
  type SpeculationContext,
} from "@toolformer/protocol";
import type { ProviderRegistry } from "@toolformer/providers";
import { decodeValidated, inLinkedRootSpan, retryUntil, settleAll, type ActorContext } from "@toolformer/runtime";
import { type SpeculationCandidate, type SpeculationLedgerStore } from "@toolformer/speculation-ledger";
import { argumentProblems, publishExec } from "@toolformer/tool-calls";
import { z } from "zod";
import type { CalibrationCache } from "./calibration.ts";
import { admit, combine, type Candidate, type SpeculationPolicy } from "./predictors/candidates.ts";
import { predictWithModel } from "./predictors/fast-model.ts";
import {
  EMPTY_HISTORY,
  historyKey,
  predictFromHistory,
  promptOf,
  type HistoryEntry,
} from "./predictors/history-model.ts";
import type { Prediction } from "./predictors/prediction.ts";

/** Speculative calls wait below every real call (priorities run 0..9, higher first). */
export const SPECULATIVE_PRIORITY = 0;

const HistoryEntrySchema = z.object({
  observations: z.number().min(0),
  templates: z.record(z.string(), z.object({ tool: z.string(), template: z.unknown(), count: z.number().min(0) })),
});

export interface EngineDeps {
  ledger: SpeculationLedgerStore;
  history: KV;
  calibration: CalibrationCache;
  policy: SpeculationPolicy;
  minObservations: number;
  /** The cheaper model, when one is configured and its provider is. */
  fastModel?: { registry: ProviderRegistry; ref: string };
  /** What each question to the fast model cost (speculation's price in tokens). */
  onFastModelUsage(usage: { inputTokens: number; outputTokens: number }): void;
}

/**
 * Guesses one model turn's calls and starts the safe, confident ones: the history model answers at
 * once (one KV read); the fast model, if configured, answers later and may add calls or raise the
 * confidence of ones the history was unsure of. The guessing is a `speculate` span of its own trace,
 * linked to the request's span: its calls are not steps the request asked for.
 */
export function speculate(context: SpeculationContext, ctx: ActorContext, deps: EngineDeps): Promise<void> {
  const attributes = { "toolformer.request.id": context.requestId, "toolformer.round": context.round };
  return inLinkedRootSpan("speculate", context.traceparent, attributes, (traceparent) =>
    guess({ ...context, traceparent }, ctx, deps),
  );
}

async function guess(context: SpeculationContext, ctx: ActorContext, deps: EngineDeps): Promise<void> {
  const tools = new Map(context.tools.map((tool) => [tool.definition.name, tool]));
  const templateContext = { prompt: promptOf(context.messages), previous: context.previous.at(-1) ?? [] };
  const key = historyKey(context.tenant, [...tools.keys()], templateContext.prompt, templateContext.previous);
  const fromHistory = predictFromHistory(await readHistory(deps.history, key), templateContext, deps.minObservations);
  await startConfident(context, fromHistory, tools, ctx, deps);

  const resolved = deps.fastModel && deps.fastModel.registry.resolve(deps.fastModel.ref);
  if (!resolved) return;
  const signal = AbortSignal.timeout(Math.max(0, context.deadline - Date.now()));
  const fromModel = await predictWithModel(resolved, context, signal, ctx.metrics.genAi).catch((error: unknown) => {
    ctx.log.info({ err: error, requestId: context.requestId }, "the fast model predicted nothing");
    return undefined;
  });
  if (!fromModel) return;
  deps.onFastModelUsage(fromModel.usage);
  if (fromModel.predictions.length > 0)
    await startConfident(context, [...fromHistory, ...fromModel.predictions], tools, ctx, deps);
}

/** Compiled argument schemas, by their text (compiling one costs far more than checking with it). */
const checkers = new Map<string, (args: unknown) => string | undefined>();
const CHECKERS_KEPT = 256;

function checkerFor(schema: Record<string, unknown>): (args: unknown) => string | undefined {
  const text = canonicalJson(schema);
  let checker = checkers.get(text);
  if (!checker) {
    if (checkers.size >= CHECKERS_KEPT) checkers.delete(checkers.keys().next().value!);
    checkers.set(text, (checker = argumentProblems(schema)));
  }
  return checker;
}

async function readHistory(kv: KV, key: string): Promise<HistoryEntry> {
  const entry = await kv.get(key);
  if (!entry || entry.operation !== "PUT") return EMPTY_HISTORY;
  const decoded = decodeValidated(entry.value, undefined, HistoryEntrySchema, "msgpack");
  return decoded.ok ? (decoded.value as HistoryEntry) : EMPTY_HISTORY;
}

async function startConfident(
  context: SpeculationContext,
  predictions: Prediction[],
  tools: Map<string, OfferedTool>,
  ctx: ActorContext,
  deps: EngineDeps,
): Promise<void> {
  if (predictions.length === 0) return;
  await deps.calibration.load(predictions.map(({ predictor, tool }) => ({ predictor, tool })));
  const candidates = combine(predictions, (predictor, tool) => deps.calibration.precisionOf(predictor, tool));
  const admitted = candidates.flatMap((candidate): SpeculationCandidate[] => {
    const tool = tools.get(candidate.tool);
    if (!tool) return []; // a guess naming a tool this request does not offer
    const verdict = admit(candidate, tool, deps.policy, checkerFor(tool.definition.parameters));
    if ("refused" in verdict) {
      ctx.log.debug({ requestId: context.requestId, tool: candidate.tool, why: verdict.refused }, "not speculated");
      return [];
    }
    return [{ key: candidate.key, call: speculativeCall(context, candidate, tool, verdict.scopes) }];
  });
  if (admitted.length === 0) return;
  // The ledger write, the calls and the events are each tried again while a stream elects a leader.
  const accepted = await deps.ledger.register(
    context.requestId,
    context.round,
    admitted,
    deps.policy.maxPerRequest,
    context.deadline,
  );
  // Each call's exec message before its event (an event never names a call that was not sent), and the
  // calls side by side: the last of several starts one round trip after the first, not two per call after.
  await settleAll(
    accepted.map(async ({ call }) => {
      const { exec } = call;
      await publishExec(ctx, exec);
      await ctx.events.publish(
        {
          type: EventType.speculationStarted,
          requestId: exec.requestId,
          callId: exec.callId,
          tool: exec.tool,
          round: exec.round,
          // Events are read by clients: arguments the tool's schema marks sensitive stay out of them.
          args: redactPaths(exec.args, sensitivePaths(tools.get(exec.tool)?.definition.parameters)),
          predictors: call.predictors,
          confidence: call.confidence,
        },
        context.traceparent,
        { giveUpAt: retryUntil(context.deadline) },
      );
    }),
  );
}

function speculativeCall(
  context: SpeculationContext,
  candidate: Candidate,
  tool: OfferedTool,
  scopes: ExecCall["extraScopes"],
): SpeculationCandidate["call"] {
  const { definition } = tool;
  const exec: ExecCall = {
    requestId: context.requestId,
    callId: `s${context.round}-${candidate.key.slice(0, 20)}`,
    round: context.round,
    tool: candidate.tool,
    args: candidate.args,
    attempt: 1,
    deadline: context.deadline,
    traceparent: context.traceparent,
    priority: SPECULATIVE_PRIORITY,
    tenant: context.tenant,
    ...(definition.timeoutMs === undefined ? {} : { timeoutMs: definition.timeoutMs }),
    ...(definition.rateLimit === undefined ? {} : { rateLimit: definition.rateLimit }),
    speculative: true,
    extraScopes: scopes,
  };
  return {
    state: SpeculativeCallState.running,
    exec,
    predictors: candidate.predictors,
    confidence: candidate.confidence,
    startedAt: Date.now(),
  };
}
