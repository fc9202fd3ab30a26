import type { KvCasStore, Logger } from "@toolformer/runtime";

export const FLUSH_INTERVAL_MS = 1_000;
/** How long a stopping copy keeps trying to write what it counted (a leader election, a reconnect). */
export const STOP_FLUSH_MS = 5_000;
const STOP_FLUSH_RETRY_MS = 200;

/** How a kind of additive value starts and adds up. */
export interface Additive<T> {
  empty: T;
  add(a: T, b: T): T;
}

/**
 * Accumulates additive deltas per key in memory and merges them into KV once a second. Counts add up,
 * so copies never conflict on meaning, and KV sees one compare-and-set per key per second instead of
 * one per event (which, under load, left every handler fighting over one hot key). A copy that dies
 * loses at most one interval of observations; these are statistics, not records.
 */
export class AdditiveFlusher<T> {
  readonly #store: KvCasStore;
  readonly #kind: Additive<T>;
  readonly #log: Logger;
  #pending = new Map<string, T>();
  #timer: NodeJS.Timeout | undefined;
  /** The flush under way: flushes run one after another, and stopping waits for the last. */
  #flushing: Promise<void> = Promise.resolve();

  constructor(store: KvCasStore, kind: Additive<T>, log: Logger) {
    this.#store = store;
    this.#kind = kind;
    this.#log = log;
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
  }

  add(key: string, delta: T): void {
    this.#pending.set(key, this.#kind.add(this.#pending.get(key) ?? this.#kind.empty, delta));
  }

  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flushOnce());
    return this.#flushing;
  }

  async #flushOnce(): Promise<void> {
    const batch = this.#pending;
    this.#pending = new Map();
    for (const [key, delta] of batch) {
      try {
        await this.#store.update<T, void>(key, this.#kind.empty, (current) => ({
          next: this.#kind.add(current, delta),
          result: undefined,
        }));
      } catch (error) {
        this.#log.warn({ err: error, key }, "could not save what was learned; keeping it for the next flush");
        this.add(key, delta);
      }
    }
  }

  /** Stops the timer and writes what is pending, trying again for up to STOP_FLUSH_MS if KV refuses. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    const giveUpAt = Date.now() + STOP_FLUSH_MS;
    await this.flush();
    while (this.#pending.size > 0 && Date.now() < giveUpAt) {
      await new Promise((resolve) => setTimeout(resolve, STOP_FLUSH_RETRY_MS));
      await this.flush();
    }
    if (this.#pending.size > 0)
      this.#log.error({ keys: this.#pending.size }, "stopping without saving some of what was learned");
  }
}
