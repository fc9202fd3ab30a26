import type { AcquireReply, AcquireRequest } from "@toolformer/protocol";
import { admit, release, type Admission } from "./sliding-window.ts";
import type { WindowStore } from "./window-store.ts";

/**
 * Admits one call under all its scopes or none: scopes are taken in a fixed order (so two acquires
 * never wait on each other in a cycle) and, when one refuses, the places already taken are given back.
 */
export async function acquire(store: WindowStore, request: AcquireRequest, now: () => number): Promise<AcquireReply> {
  const holder = `${request.requestId}/${request.callId}/${request.attempt}`;
  const scopes = [...request.scopes].sort((a, b) => a.key.localeCompare(b.key));
  const taken = [];
  for (const scope of scopes) {
    const decision = await store.update<Admission>(scope, (state) => {
      const d = admit(state, scope.limit, scope.intervalMs, now(), holder);
      return d.admitted ? { next: d.next, result: d } : { result: d };
    });
    if (!decision.admitted) {
      for (const done of taken)
        await store.update(done, (state) => ({ next: release(state, holder), result: undefined }));
      return { granted: false, retryAfterMs: decision.retryAfterMs, scope: scope.key };
    }
    taken.push(scope);
  }
  return { granted: true };
}
