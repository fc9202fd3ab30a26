import { callMatchKey, type OfferedTool, type RateLimitScope } from "@toolformer/protocol";
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
 * How long a speculative call's place in its tool's speculation share is kept when it is never given
 * back: its executor died with it. A cap's place is kept 10 minutes (CONCURRENCY_LEASE_MS), but this
 * share is a budget, not a limit the upstream counts, and a call of the model that takes a speculative
 * call over waits for it: with places kept that long, a few executor kills filled a tool's share, and
 * every speculative call the model then took over waited for a place until its request timed out
 * (the full fault run of 2026-12-03: 133 of 340 speculating requests). Kept 30 s, a dead executor's
 * places free within a hold or two; a speculative call that runs longer than that stops counting
 * against the share, which may then let one more start.
 */
export const SPECULATIVE_PLACE_LEASE_MS = 30_000;

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
  scopes.push({
    key: `concurrency:speculation:${candidate.tool}`,
    limit: places,
    intervalMs: SPECULATIVE_PLACE_LEASE_MS,
    concurrent: true,
  });
  return { scopes };
}
