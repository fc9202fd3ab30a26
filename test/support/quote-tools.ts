import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { defineTool, type TypeScriptTool } from "@toolformer/tools";

/**
 * Tools for the result cache's tests; each counts its runs by argument where it runs (the executors
 * are in the test's process), so a test sees what ran and what came from the cache.
 */
export function quoteTools(): { tools: TypeScriptTool[]; runs: Map<string, number> } {
  const runs = new Map<string, number>();
  const count = (key: string) => runs.set(key, (runs.get(key) ?? 0) + 1);
  const quote = defineTool({
    name: "quote",
    description: "A share's price (slow; cached for a minute).",
    parameters: z.object({ symbol: z.string() }),
    readOnly: true,
    idempotent: true,
    cache: { ttlMs: 60_000, version: "1" },
    async run({ symbol }, ctx) {
      count(`quote:${symbol}`);
      await sleep(300, undefined, { signal: ctx.signal });
      return { symbol, price: symbol.length * 10 };
    },
  });
  const fleeting = defineTool({
    name: "fleeting_quote",
    description: "A share's price, cached for 300 ms.",
    parameters: z.object({ symbol: z.string() }),
    readOnly: true,
    idempotent: true,
    cache: { ttlMs: 300 },
    async run({ symbol }) {
      count(`fleeting:${symbol}`);
      return { symbol, at: runs.get(`fleeting:${symbol}`) };
    },
  });
  const limited = defineTool({
    name: "limited_quote",
    description: "A share's price from an upstream that allows one call a minute; cached for a minute.",
    parameters: z.object({ symbol: z.string() }),
    readOnly: true,
    idempotent: true,
    cache: { ttlMs: 60_000 },
    rateLimit: { limit: 1, intervalMs: 60_000 },
    async run({ symbol }, ctx) {
      count(`limited:${symbol}`);
      await sleep(300, undefined, { signal: ctx.signal });
      return { symbol, price: 7 };
    },
  });
  const buy = defineTool({
    name: "buy",
    description: "Buys a share: a side effect, never cached.",
    parameters: z.object({ symbol: z.string() }),
    idempotent: false,
    async run({ symbol }) {
      count(`buy:${symbol}`);
      return { bought: symbol };
    },
  });
  return { tools: [quote, fleeting, limited, buy], runs };
}
