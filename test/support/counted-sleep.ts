import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { defineTool, type ToolContext } from "@toolformer/tools";

/**
 * A tool with side effects that sleeps `ms` and answers with `value`, counting how often each call ran
 * where it runs (executors in the test's own process): the count a failover test checks against "no
 * call runs twice". Runs are keyed by call id unless `keyOf` says otherwise.
 */
export function countedSleep(keyOf: (value: unknown, ctx: ToolContext) => string = (_value, ctx) => ctx.callId) {
  const runs = new Map<string, number>();
  const tool = defineTool({
    name: "counted_sleep",
    description: "Sleeps and counts how often each call ran.",
    parameters: z.object({ ms: z.int().min(0), value: z.unknown().optional() }),
    idempotent: false,
    async run({ ms, value }, ctx) {
      const key = keyOf(value, ctx);
      runs.set(key, (runs.get(key) ?? 0) + 1);
      await sleep(ms, undefined, { signal: ctx.signal });
      return { value };
    },
  });
  return { tool, runs };
}
