import { describe, expect, it } from "vitest";
import { pairedRatios, ratio, summarize } from "./stats.ts";

describe("summarize", () => {
  it("gives nearest-rank median and p99 with the spread", () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i); // 1..100, unsorted
    expect(summarize(samples)).toEqual({ n: 100, median: 50, p99: 99, min: 1, max: 100 });
    expect(summarize([7])).toEqual({ n: 1, median: 7, p99: 7, min: 7, max: 7 });
  });

  it("refuses an empty sample and guards a zero baseline", () => {
    expect(() => summarize([])).toThrow(/no samples/);
    expect(ratio(3, 0)).toBe(Number.POSITIVE_INFINITY);
    expect(ratio(3, 2)).toBe(1.5);
  });
});

describe("pairedRatios", () => {
  it("divides each sample by the one taken beside it, not the medians by each other", () => {
    // Pairs of 1.1, 1.0 and 1.2, the slow moments (400, 300) on both sides of their pair.
    const over = [220, 400, 360];
    const under = [200, 400, 300];
    expect(pairedRatios(over, under)).toMatchObject({ n: 3, median: 1.1, min: 1, max: 1.2 });
    expect(ratio(summarize(over).median, summarize(under).median)).toBe(1.2);
  });

  it("refuses samples that do not pair up", () => {
    expect(() => pairedRatios([1, 2], [1])).toThrow(/unpaired/);
  });
});
