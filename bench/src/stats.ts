/** Summary of repeated measurements; percentiles by the nearest-rank method. */
export interface Summary {
  n: number;
  median: number;
  p99: number;
  min: number;
  max: number;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error("no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN;
  return {
    n: sorted.length,
    median: rank(0.5),
    p99: rank(0.99),
    min: sorted[0] ?? Number.NaN,
    max: sorted.at(-1) ?? Number.NaN,
  };
}

/** a / b, rounded for a table; "n/a" guards a zero baseline. */
export function ratio(a: number, b: number): number {
  return b === 0 ? Number.POSITIVE_INFINITY : a / b;
}

/**
 * Each sample of `over` divided by the one of `under` taken beside it (their requests took turns), so
 * that a moment the machine was slow weighs on both sides of the same ratio.
 */
export function pairedRatios(over: readonly number[], under: readonly number[]): Summary {
  if (over.length !== under.length) throw new Error(`unpaired samples: ${over.length} against ${under.length}`);
  return summarize(over.map((value, i) => ratio(value, under[i]!)));
}
