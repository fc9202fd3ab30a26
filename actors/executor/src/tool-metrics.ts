import { Counter, Histogram, type Registry } from "prom-client";
import { CallStatus, type ToolCallRecord } from "@toolformer/protocol";
import { boundedLabel, type ActorContext } from "@toolformer/runtime";
import type { ResultCacheCounts } from "./result-cache.ts";

/** Calls this executor ran to an outcome: how many by tool and outcome, and how long their tools ran. */
export class ToolMetrics {
  readonly #calls: Counter<"tool" | "outcome" | "speculative">;
  readonly #duration: Histogram<"tool" | "outcome">;
  readonly #tool = boundedLabel();

  constructor(registry: Registry) {
    this.#calls = new Counter({
      name: "toolformer_tool_calls_total",
      help: "Tool calls ended here, by tool, outcome (succeeded, failed, timeout, cancelled) and whether speculative",
      labelNames: ["tool", "outcome", "speculative"],
      registers: [registry],
    });
    this.#duration = new Histogram({
      name: "toolformer_tool_duration_seconds",
      help: "How long a call's tool ran (retries included), by tool and outcome; calls that never started are not counted",
      labelNames: ["tool", "outcome"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    });
  }

  /** The call's record is about to be published; a cancelled one also tells how long its cancel took. */
  ended(ctx: ActorContext, requestId: string, record: ToolCallRecord): void {
    const tool = this.#tool(record.tool);
    this.#calls.inc({ tool, outcome: record.status, speculative: String(record.speculative) });
    if (record.startedAt !== null) this.#duration.observe({ tool, outcome: record.status }, record.durationMs / 1000);
    const heardAt = ctx.cancellations.heardAt(requestId, record.id);
    if (record.status === CallStatus.cancelled && heardAt !== undefined)
      ctx.metrics.cancels.stopped("tool_stopped", heardAt);
  }
}

/** The result cache's hits, misses and bytes (`result-cache.ts`), by tool. */
export function resultCacheMetrics(registry: Registry): ResultCacheCounts {
  const tool = boundedLabel();
  const calls = new Counter({
    name: "toolformer_result_cache_lookups_total",
    help: "Calls of a cached tool, by tool and outcome: hit (a stored result, or an identical call's run waited for) or miss (it ran)",
    labelNames: ["tool", "outcome"],
    registers: [registry],
  });
  const bytes = new Counter({
    name: "toolformer_result_cache_bytes_total",
    help: "Bytes of results served from the cache (hit) and written to it (stored), by tool",
    labelNames: ["tool", "direction"],
    registers: [registry],
  });
  return {
    hit(name, size) {
      calls.inc({ tool: tool(name), outcome: "hit" });
      bytes.inc({ tool: tool(name), direction: "hit" }, size);
    },
    miss: (name) => calls.inc({ tool: tool(name), outcome: "miss" }),
    stored: (name, size) => bytes.inc({ tool: tool(name), direction: "stored" }, size),
  };
}
