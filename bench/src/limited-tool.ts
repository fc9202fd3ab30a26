/** The utilization benchmark's remote tool, shared by the benchmark and the tool's own process. */
export const LIMITED_TOOL = "bench_limited";
export const LIMITED_TOOL_SUBJECT = "bench.limited";
/** What the tool declares (`toolformer.rate_limit`): what the executors ask the limiters for. */
export const LIMITED_TOOL_LIMIT = { limit: 50, intervalMs: 1_000 };
