import type { AcquireReply, AcquireRequest, RateLimitFeedback } from "@toolformer/protocol";
import { admit, block, blockedFor, correct, release, type Admission } from "./sliding-window.ts";
import type { WindowStore } from "./window-store.ts";

/** Who holds an admitted entry: one attempt of one call (or model turn) of one request. */
export function holderOf(envelope: { requestId: string; callId: string; attempt: number }): string {
  return `${envelope.requestId}/${envelope.callId}/${envelope.attempt}`;
}

/**
 * Admits one call under all its scopes or none: scopes are taken in a fixed order (so two acquires
 * never wait on each other in a cycle) and, when one refuses, the places already taken are given back.
 */
export async function acquire(store: WindowStore, request: AcquireRequest, now: () => number): Promise<AcquireReply> {
  const holder = holderOf(request);
  const scopes = [...request.scopes].sort((a, b) => a.key.localeCompare(b.key));
  const taken = [];
  for (const scope of scopes) {
    const decision = await store.update<Admission | { admitted: true }>(scope, (state) => {
      if (scope.blockOnly) {
        const blocked = blockedFor(state, now());
        return { result: blocked === undefined ? { admitted: true } : { admitted: false, retryAfterMs: blocked } };
      }
      const d = admit(state, scope.limit, scope.intervalMs, now(), holder, scope.cost);
      return d.admitted ? { next: d.next, result: d } : { result: d };
    });
    if (!decision.admitted) {
      for (const done of taken)
        await store.update(done, (state) => ({ next: release(state, holder), result: undefined }));
      return { granted: false, retryAfterMs: decision.retryAfterMs, scope: scope.key };
    }
    if (!scope.blockOnly) taken.push(scope);
  }
  return { granted: true };
}

/** Applies a correction of an admitted cost, or an upstream's block, to its scope. */
export async function applyFeedback(store: WindowStore, feedback: RateLimitFeedback): Promise<void> {
  if (feedback.op === "correct") {
    const holder = holderOf(feedback);
    await store.update(feedback.scope, (state) => ({ next: correct(state, holder, feedback.cost), result: undefined }));
    return;
  }
  await store.update(feedback.scope, (state) => ({ next: block(state, feedback.until), result: undefined }));
}
