import { RATE_LIMIT_KEYS, type RateLimitScope } from "@toolformer/protocol";
import type { KvCasStore, RetryOptions } from "@toolformer/runtime";
import type { WindowState } from "./sliding-window.ts";

const EMPTY: WindowState = { starts: [] };

/**
 * Scope state in JetStream KV, changed only by compare-and-set: two limiter copies racing on one scope
 * both re-read and re-decide, so no admission is lost or doubled, and a restarted limiter finds the
 * state where it was. While the bucket elects a leader (a node died) an update is tried again until
 * `retry.giveUpAt` (by default MIN_RETRY_WINDOW_MS; then the line tries again later).
 */
export class WindowStore {
  readonly #cas: KvCasStore;
  readonly #tails = new Map<string, Promise<void>>();
  readonly #onDecided: ((scope: RateLimitScope, state: WindowState) => void) | undefined;

  /** `onDecided` hears each scope's state as a change left it (for the utilization gauge). */
  constructor(cas: KvCasStore, onDecided?: (scope: RateLimitScope, state: WindowState) => void) {
    this.#cas = cas;
    this.#onDecided = onDecided;
  }

  /** Updates of one key from this copy run one after another: a copy never races itself. */
  update<T>(
    scope: RateLimitScope,
    change: (state: WindowState) => { next?: WindowState; result: T },
    retry?: RetryOptions,
  ): Promise<T> {
    const key = RATE_LIMIT_KEYS.scope(scope.key);
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const observed = (state: WindowState) => {
      const outcome = change(state);
      this.#onDecided?.(scope, outcome.next ?? state);
      return outcome;
    };
    // A block-only scope is only read (nothing is recorded in it), so what this copy remembers of it is
    // never corrected by a conflict: a block another copy stored would go unseen. It is read each time.
    // A full concurrency scope frees when a call's release reaches any copy: refused on what this copy
    // remembers, its line would wait for nothing to change. A refusal is decided on what is stored.
    const options = {
      ...(retry ? { retry } : {}),
      ...(scope.blockOnly ? { readFirst: true } : {}),
      ...(scope.concurrent ? { confirmUnchanged: true } : {}),
    };
    const result = previous.then(() => this.#cas.update(key, EMPTY, observed, options));
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}
