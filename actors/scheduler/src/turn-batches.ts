/** Schedules `flush` once the current turn of the event loop has handled its I/O (`setImmediate`). */
export type Defer = (flush: () => void) => { cancel(): void };

const afterThisTurn: Defer = (flush) => {
  const handle = setImmediate(flush);
  return { cancel: () => clearImmediate(handle) };
};

export interface TurnBatches<T> {
  add(item: T): void;
  /** Drops what is gathered and not handed on yet: its reader has gone. */
  cancel(): void;
}

/**
 * Gathers what arrives within one turn of the event loop (every message of one socket read, and of any
 * other read handled in the same turn) and hands it on as one batch, in arrival order, once that turn's
 * I/O is handled. The round loop copies its state on each step, so a round whose 32 results come
 * together took 32 copies of 32 calls and moved on 32 times; now it steps once per batch. Nothing waits
 * for a timer: a lone result is handed on in the same turn's check phase, before any timer fires.
 */
export function turnBatches<T>(deliver: (items: T[]) => void, defer: Defer = afterThisTurn): TurnBatches<T> {
  let gathered: T[] = [];
  let scheduled: { cancel(): void } | undefined;
  const flush = () => {
    const items = gathered;
    gathered = [];
    scheduled = undefined;
    deliver(items);
  };
  return {
    add(item) {
      gathered.push(item);
      scheduled ??= defer(flush);
    },
    cancel() {
      scheduled?.cancel();
      scheduled = undefined;
      gathered = [];
    },
  };
}
