import type { AcquireRequest, RateLimitFeedback, RateLimitScope } from "@toolformer/protocol";
import { admitScope, correctScope, releaseScope } from "./scope-state.ts";
import { block } from "./sliding-window.ts";
import type { WindowStore } from "./window-store.ts";

/** Who holds an admitted entry: one attempt of one call (or model turn) of one request. */
export function holderOf(envelope: { requestId: string; callId: string; attempt: number }): string {
  return `${envelope.requestId}/${envelope.callId}/${envelope.attempt}`;
}

export type AttemptOutcome =
  /** `countedAt`: the start time the scopes recorded (absent when no scope records starts). */
  { granted: true; countedAt?: number } | { granted: false; retryAfterMs: number; scope: string };

/**
 * One try to admit a call under all its scopes or none: scopes are taken in a fixed order (so two
 * tries never wait on each other in a cycle) and, when one refuses, the places already taken are given
 * back. The earliest start recorded is returned: the caller measures how late the grant reached it from
 * there, and asks for a confirmation when it came too late (rate-limit-client.ts).
 */
export async function tryAcquire(
  store: WindowStore,
  request: Pick<AcquireRequest, "requestId" | "callId" | "attempt">,
  scopes: RateLimitScope[],
  now: () => number,
): Promise<AttemptOutcome> {
  const holder = holderOf(request);
  const sorted = [...scopes].sort((a, b) => a.key.localeCompare(b.key));
  let countedAt: number | undefined;
  const taken: RateLimitScope[] = [];
  for (const scope of sorted) {
    let decidedAt = 0;
    const decision = await store.update(scope, (state) => {
      decidedAt = now();
      const d = admitScope(state, scope, decidedAt, holder);
      return { next: d.admitted ? d.next : undefined, result: d };
    });
    if (!decision.admitted) {
      await release(store, request, taken, now);
      return { granted: false, retryAfterMs: decision.retryAfterMs, scope: scope.key };
    }
    if (scope.blockOnly) continue;
    taken.push(scope);
    countedAt = Math.min(countedAt ?? decidedAt, decidedAt);
  }
  return countedAt === undefined ? { granted: true } : { granted: true, countedAt };
}

/** Gives back an admission on every scope (a grant nobody will use). */
export async function release(
  store: WindowStore,
  request: Pick<AcquireRequest, "requestId" | "callId" | "attempt">,
  scopes: RateLimitScope[],
  now: () => number,
): Promise<void> {
  const holder = holderOf(request);
  for (const scope of scopes) {
    if (scope.blockOnly) continue;
    await store.update(scope, (state) => ({ next: releaseScope(state, scope, holder, now()), result: undefined }));
  }
}

/** Applies a correction of an admitted cost, or an upstream's block, to its scope. */
export async function applyFeedback(store: WindowStore, feedback: RateLimitFeedback, now: () => number): Promise<void> {
  if (feedback.op === "correct") {
    const holder = holderOf(feedback);
    await store.update(feedback.scope, (state) => ({
      next: correctScope(state, feedback.scope, holder, feedback.cost, now()),
      result: undefined,
    }));
    return;
  }
  await store.update(feedback.scope, (state) => ({ next: block(state, feedback.until), result: undefined }));
}
