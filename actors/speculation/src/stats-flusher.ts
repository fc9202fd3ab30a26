import type { KvCasStore, Logger } from "@toolformer/runtime";
import { addStats, EMPTY_STATS, type ToolStats } from "./tool-stats.ts";

export const FLUSH_INTERVAL_MS = 1_000;

/**
 * Accumulates per-tool deltas in memory and merges them into KV once a second. Counts are additive,
 * so copies never conflict on meaning, and KV sees one compare-and-set per tool per second instead of
 * one per event (which, under load, left every handler fighting over one hot key). A copy that dies
 * loses at most one interval of observations; the stats are statistics, not records.
 */
export class StatsFlusher {
  readonly #store: KvCasStore;
  readonly #log: Logger;
  #pending = new Map<string, ToolStats>();
  #timer: NodeJS.Timeout | undefined;

  constructor(store: KvCasStore, log: Logger) {
    this.#store = store;
    this.#log = log;
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
  }

  add(tool: string, delta: ToolStats): void {
    this.#pending.set(tool, addStats(this.#pending.get(tool) ?? EMPTY_STATS, delta));
  }

  async flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = new Map();
    for (const [tool, delta] of batch) {
      try {
        await this.#store.update<ToolStats, void>(`tool.${tool}`, EMPTY_STATS, (stats) => ({
          next: addStats(stats, delta),
          result: undefined,
        }));
      } catch (error) {
        this.#log.warn({ err: error, tool }, "could not save tool stats; keeping them for the next flush");
        this.add(tool, delta);
      }
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}
