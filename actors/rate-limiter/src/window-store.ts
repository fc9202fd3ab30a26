import type { KV } from "@nats-io/kv";
import { subjectToken, type RateLimitScope } from "@toolformer/protocol";
import { updateWithCas } from "@toolformer/runtime";
import type { WindowState } from "./sliding-window.ts";

/**
 * Window state in JetStream KV, changed only by compare-and-set: two limiter copies racing on one
 * scope both re-read and re-decide, so no admission is lost or doubled, and a restarted limiter finds
 * the state where it was.
 */
export class WindowStore {
  readonly #kv: KV;

  constructor(kv: KV) {
    this.#kv = kv;
  }

  update<T>(scope: RateLimitScope, change: (state: WindowState) => { next?: WindowState; result: T }): Promise<T> {
    return updateWithCas<WindowState, T>(this.#kv, subjectToken(scope.key), { starts: [] }, change);
  }
}
