import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { resultCacheMetrics } from "./tool-metrics.ts";

describe("the result cache's metrics", () => {
  it("count hits, misses and bytes by tool", async () => {
    const registry = new Registry();
    const counts = resultCacheMetrics(registry);
    counts.miss("quote");
    counts.stored("quote", 120);
    counts.hit("quote", 120);
    counts.hit("quote", 120);
    const text = await registry.metrics();
    expect(text).toContain('toolformer_result_cache_lookups_total{tool="quote",outcome="hit"} 2');
    expect(text).toContain('toolformer_result_cache_lookups_total{tool="quote",outcome="miss"} 1');
    expect(text).toContain('toolformer_result_cache_bytes_total{tool="quote",direction="hit"} 240');
    expect(text).toContain('toolformer_result_cache_bytes_total{tool="quote",direction="stored"} 120');
  });
});
