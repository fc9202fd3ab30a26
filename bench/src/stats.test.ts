import { describe, expect, it } from "vitest";
import { ratio, summarize } from "./stats.ts";

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
