import { setImmediate as endOfTurn } from "node:timers/promises";

/**
 * Hands the items added under one key to `flush` together: one flush at a time per key, each at the end
 * of a turn of the event loop (`setImmediate`), with what was added until then (at most `maxBatch` in
 * one). So the items one read of the socket brings go in one flush, a burst costs a few flushes however
 * many items it brings, and each waits for at most the flush before it and the rest of its turn.
 * `flush` must not reject: it answers for its items whatever happens (the items after a rejected one
 * would be dropped).
 */
export class Coalescer<T> {
  readonly #pending = new Map<string, T[]>();
  readonly #flush: (key: string, items: T[]) => Promise<void>;
  readonly #maxBatch: number;

  constructor(flush: (key: string, items: T[]) => Promise<void>, maxBatch: number) {
    this.#flush = flush;
    this.#maxBatch = maxBatch;
  }

  add(key: string, item: T): void {
    const pending = this.#pending.get(key);
    if (pending) return void pending.push(item);
    this.#pending.set(key, [item]);
    void this.#run(key);
  }

  async #run(key: string): Promise<void> {
    const pending = this.#pending.get(key)!;
    try {
      while (pending.length > 0) {
        await endOfTurn();
        await this.#flush(key, pending.splice(0, this.#maxBatch));
      }
    } finally {
      this.#pending.delete(key);
    }
  }
}
