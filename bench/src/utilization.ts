import { maxInAnyWindow } from "@toolformer/testing";
import { summarize } from "./stats.ts";

/**
 * The hop from the executor to the tool (NATS and the tool's own process) is beyond any limiter, and on
 * a busy machine it is slower for some calls than for others. Starts are also counted in windows this
 * much shorter (950 ms, as issue 18 counted them), to tell such a hop from a limiter admitting too many.
 */
export const TRANSIT_SLACK_MS = 50;

export interface Utilization {
  /** From the first start to the last, ms. */
  spanMs: number;
  /** The same under the fastest schedule the limit allows, ms. */
  idealSpanMs: number;
  /** idealSpanMs / spanMs. */
  utilization: number;
  /**
   * From the first start to the `limit`-th, ms: how long the first window's calls took to arrive. A
   * sliding window repeats it in each later window, so no limiter makes a run shorter than this plus
   * the ideal span; the rest of the span is the limiter's own.
   */
  firstWindowMs: number;
  /**
   * For each window after the first, the median of how long past one interval each of its calls started
   * after its counterpart in the window before (the k-th start after the k-th): what each window lost,
   * beyond the first window's spread it repeats. The limiter's guard alone makes it
   * RATE_LIMIT_START_GUARD_MS; the rest is the limiter's way to a start (its write, the grant's trip,
   * the executor's turn) and starts counted again later than they happened.
   */
  windowLatenessMs: number[];
  /** The most starts in any window of the limit's interval: above the limit, the upstream saw more than it allows. */
  maxInWindow: number;
  /** The same in windows TRANSIT_SLACK_MS shorter. */
  maxInWindowLessSlack: number;
}

/**
 * How well a run of `starts` (epoch ms, any order) used a limit of `limit` per `intervalMs`. Under a
 * sliding window the fastest schedule starts `limit` calls at once and the next `limit` one interval
 * later, so n calls need (ceil(n / limit) - 1) intervals from the first start to the last. Utilization
 * is that ideal span over the span the run took: 1 is as fast as the limit allows (a little under it in
 * practice: the limiter adds RATE_LIMIT_START_GUARD_MS to each window), 0.5 twice as slow.
 */
export function utilizationOf(starts: readonly number[], limit: number, intervalMs: number): Utilization {
  const sorted = [...starts].sort((a, b) => a - b);
  const first = sorted[0] ?? 0;
  const spanMs = (sorted.at(-1) ?? 0) - first;
  const idealSpanMs = (Math.ceil(sorted.length / limit) - 1) * intervalMs;
  return {
    spanMs,
    idealSpanMs,
    firstWindowMs: (sorted[Math.min(limit, sorted.length) - 1] ?? first) - first,
    windowLatenessMs: windowLateness(sorted, limit, intervalMs),
    utilization: spanMs === 0 ? 1 : idealSpanMs / spanMs,
    maxInWindow: maxInAnyWindow(sorted, intervalMs),
    maxInWindowLessSlack: maxInAnyWindow(sorted, intervalMs - TRANSIT_SLACK_MS),
  };
}

function windowLateness(sorted: readonly number[], limit: number, intervalMs: number): number[] {
  const windows = Math.ceil(sorted.length / limit);
  return Array.from(
    { length: Math.max(0, windows - 1) },
    (_, w) =>
      summarize(
        sorted.slice((w + 1) * limit, (w + 2) * limit).map((start, k) => start - sorted[w * limit + k]! - intervalMs),
      ).median,
  );
}
