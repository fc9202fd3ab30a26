import { subjectToken, type RateLimitScope } from "@toolformer/protocol";
import type { KvCasStore } from "@toolformer/runtime";
import type { WindowState } from "./sliding-window.ts";

const EMPTY: WindowState = { starts: [] };

/**
 * Scope state in JetStream KV, changed only by compare-and-set: two limiter copies racing on one scope
 * both re-read and re-decide, so no admission is lost or doubled, and a restarted limiter finds the
 * state where it was.
 */
export class WindowStore {
  readonly #cas: KvCasStore;

  constructor(cas: KvCasStore) {
    this.#cas = cas;
  }

  update<T>(scope: RateLimitScope, change: (state: WindowState) => { next?: WindowState; result: T }): Promise<T> {
    return this.#cas.update(subjectToken(scope.key), EMPTY, change);
  }
}
