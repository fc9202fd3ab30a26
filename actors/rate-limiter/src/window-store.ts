import type { KV } from "@nats-io/kv";
import { subjectToken, type RateLimitScope } from "@toolformer/protocol";
import { updateWithCas, type CasOperation } from "@toolformer/runtime";
import type { WindowState } from "./sliding-window.ts";

/** Scopes whose last revision a copy remembers; beyond it, the oldest is forgotten (and read again when needed). */
const KNOWN_SCOPES_LIMIT = 10_000;

/**
 * Scope state in JetStream KV, changed only by compare-and-set: two limiter copies racing on one scope
 * both re-read and re-decide, so no admission is lost or doubled, and a restarted limiter finds the
 * state where it was. Each copy remembers the revision it last saw, so an uncontended update is one
 * write with no read.
 */
export class WindowStore {
  readonly #kv: KV;
  readonly #known = new Map<string, { revision: number; value: WindowState }>();
  readonly #count: (operation: CasOperation) => void;

  constructor(kv: KV, count: (operation: CasOperation) => void = () => {}) {
    this.#kv = kv;
    this.#count = count;
  }

  update<T>(scope: RateLimitScope, change: (state: WindowState) => { next?: WindowState; result: T }): Promise<T> {
    if (this.#known.size > KNOWN_SCOPES_LIMIT) this.#known.delete(this.#known.keys().next().value!);
    return updateWithCas<WindowState, T>(this.#kv, subjectToken(scope.key), { starts: [] }, change, {
      known: this.#known,
      count: this.#count,
    });
  }
}
