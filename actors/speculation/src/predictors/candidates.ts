import { callMatchKey, concurrencyScope, type OfferedTool, type RateLimitScope } from "@toolformer/protocol";
import type { Prediction } from "./prediction.ts";

/** One call to start speculatively, with every predictor that proposed it and their combined confidence. */
export interface Candidate {
  key: string;
  tool: string;
  args: unknown;
  confidence: number;
  predictors: string[];
}

/**
 * Predictions of the same call (tool and canonical arguments) merged: each predictor's confidence is
 * scaled by its precision for the tool, and independent predictors agreeing raise the confidence
 * (1 - product of their doubts). Most confident first.
 */
export function combine(
  predictions: Prediction[],
  precisionOf: (predictor: string, tool: string) => number,
): Candidate[] {
  const byKey = new Map<string, Candidate & { doubt: number }>();
  for (const prediction of predictions) {
    const key = callMatchKey(prediction.tool, prediction.args);
    const calibrated = Math.min(
      1,
      Math.max(0, prediction.confidence * precisionOf(prediction.predictor, prediction.tool)),
    );
    const known = byKey.get(key) ?? {
      key,
      tool: prediction.tool,
      args: prediction.args,
      confidence: 0,
      predictors: [],
      doubt: 1,
    };
    if (known.predictors.includes(prediction.predictor)) continue;
    known.doubt *= 1 - calibrated;
    known.confidence = 1 - known.doubt;
    known.predictors.push(prediction.predictor);
    byKey.set(key, known);
  }
  return [...byKey.values()]
    .map(({ doubt: _doubt, ...candidate }) => candidate)
    .sort((a, b) => b.confidence - a.confidence);
}

/** What keeps speculation from costing real calls. */
export interface SpeculationPolicy {
  /** Combined confidence a call needs to be started. */
  threshold: number;
  /** Speculative calls per request, over all its rounds. */
  maxPerRequest: number;
  /** Share of a tool's rate limit speculative calls may use (0..1). */
  rateShare: number;
  /** Share of the executors' capacity for a tool speculative calls may hold at once (0..1). */
  executorShare: number;
  /** Speculative calls of a tool at once when its executors' capacity is not known. */
  concurrencyWhenUnknown: number;
}

/**
 * Whether a candidate for a tool the request offers may run speculatively, and under which extra
 * scopes (the budgets, enforced by the rate limiters like any limit, cluster-wide): only read-only
 * tools (a guess at an idempotent write still writes what the model never asked for), with arguments
 * their schema accepts, above the confidence threshold, and only where the tool's rate limit leaves a
 * share for speculation.
 */
export function admit(
  candidate: Candidate,
  tool: OfferedTool,
  policy: SpeculationPolicy,
  argumentProblems: (args: unknown) => string | undefined,
): { scopes: RateLimitScope[] } | { refused: string } {
  if (!tool.definition.readOnly) return { refused: "the tool is not read-only" };
  if (candidate.confidence < policy.threshold) return { refused: "below the confidence threshold" };
  const problems = argumentProblems(candidate.args);
  if (problems !== undefined) return { refused: `the arguments do not match the schema: ${problems}` };
  const scopes: RateLimitScope[] = [];
  const { rateLimit } = tool.definition;
  if (rateLimit) {
    const share = Math.floor(rateLimit.limit * policy.rateShare);
    if (share < 1) return { refused: "the tool's rate limit leaves no share for speculation" };
    scopes.push({ key: `speculation:tool:${candidate.tool}`, limit: share, intervalMs: rateLimit.intervalMs });
  }
  const places =
    tool.capacity === undefined
      ? policy.concurrencyWhenUnknown
      : Math.max(1, Math.floor(tool.capacity * policy.executorShare));
  // Its places are leased and renewed by the executor that runs the call, like any cap's (docs/adr/0035).
  scopes.push(concurrencyScope(`concurrency:speculation:${candidate.tool}`, places));
  return { scopes };
}
