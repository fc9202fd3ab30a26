import type { AcquireRequest, RateLimitFeedback, RateLimitScope } from "@toolformer/protocol";
import { retryUntil, settleAll } from "@toolformer/runtime";
import { admitScope, correctScope, releaseScope, renewScope } from "./scope-state.ts";
import { block } from "./sliding-window.ts";
import type { WindowStore } from "./window-store.ts";

/** Who holds an admitted entry: one attempt of one call (or model turn) of one request. */
export function holderOf(envelope: { requestId: string; callId: string; attempt: number }): string {
  return `${envelope.requestId}/${envelope.callId}/${envelope.attempt}`;
}

export type AttemptOutcome =
  /** `countedAt`: the start time the scopes recorded (absent when no scope records starts). */
  { granted: true; countedAt?: number } | { granted: false; retryAfterMs: number; scope: string };

/** How many of a batch one scope admitted, and why it stopped there. */
interface Fit {
  count: number;
  refused?: { retryAfterMs: number };
}

/**
 * One try to admit a batch of calls that ask for the same scopes, in order, each under all its scopes
 * or none: one compare-and-set per scope admits as many of the batch as fit (so a hot scope costs one
 * KV write per batch, not per call). Scopes are taken in a fixed order (so two tries never wait on each
 * other in a cycle); when a scope admits fewer than the scopes before it, those give the extra places
 * back. Each grant carries the earliest start recorded for it: the caller measures from there how late
 * the grant reached it, and asks for a confirmation when too late (rate-limit-client.ts).
 */
export async function tryAcquire(
  store: WindowStore,
  batch: readonly Pick<AcquireRequest, "requestId" | "callId" | "attempt" | "scopes" | "deadline">[],
  now: () => number,
): Promise<AttemptOutcome[]> {
  const first = batch[0];
  if (!first) return [];
  // While the state's bucket elects a leader, tried again until the first of the batch would give up.
  const retry = { giveUpAt: retryUntil(Math.min(...batch.map((request) => request.deadline))) };
  const keys = first.scopes.map((scope) => scope.key).sort();
  const countedAt: (number | undefined)[] = batch.map(() => undefined);
  let admitted = batch.length;
  let refusal: { retryAfterMs: number; scope: string } | undefined;
  const taken: string[] = [];
  for (const key of keys) {
    const scopeOf = (request: (typeof batch)[number]) => request.scopes.find((scope) => scope.key === key)!;
    let decidedAt = 0;
    const fit = await store.update<Fit>(
      scopeOf(first),
      (state) => {
        decidedAt = now();
        let next = state;
        let changed = false;
        for (let i = 0; i < admitted; i++) {
          const request = batch[i]!;
          const decision = admitScope(next, scopeOf(request), decidedAt, holderOf(request));
          if (!decision.admitted) return { next: changed ? next : undefined, result: { count: i, refused: decision } };
          if (decision.next) [next, changed] = [decision.next, true];
        }
        return { next: changed ? next : undefined, result: { count: admitted } };
      },
      retry,
    );
    if (fit.refused) refusal = { retryAfterMs: fit.refused.retryAfterMs, scope: key };
    if (fit.count < admitted) {
      const over = batch.slice(fit.count, admitted);
      for (const takenKey of taken)
        await release(store, over, (request) => request.scopes.find((scope) => scope.key === takenKey)!, now);
      admitted = fit.count;
    }
    if (!scopeOf(first).blockOnly) {
      taken.push(key);
      for (let i = 0; i < admitted; i++) countedAt[i] = Math.min(countedAt[i] ?? decidedAt, decidedAt);
    }
    if (admitted === 0) break;
  }
  return batch.map((_, i): AttemptOutcome => {
    if (i >= admitted) return { granted: false, ...refusal! };
    const at = countedAt[i];
    return at === undefined ? { granted: true } : { granted: true, countedAt: at };
  });
}

/** Gives back the admissions of `requests` on one scope (grants nobody will use). */
export async function release(
  store: WindowStore,
  requests: readonly Pick<AcquireRequest, "requestId" | "callId" | "attempt" | "scopes">[],
  scopeOf: (request: Pick<AcquireRequest, "scopes">) => RateLimitScope,
  now: () => number,
): Promise<void> {
  const scope = requests[0] && scopeOf(requests[0]);
  if (!scope || scope.blockOnly) return;
  await store.update(scope, (state) => ({
    next: requests.reduce((next, request) => releaseScope(next, scopeOf(request), holderOf(request), now()), state),
    result: undefined,
  }));
}

/** Gives back one call's admissions on every scope (each scope its own key: all at once). */
export function releaseAll(
  store: WindowStore,
  request: Pick<AcquireRequest, "requestId" | "callId" | "attempt" | "scopes">,
  now: () => number,
): Promise<void> {
  return settleAll(request.scopes.map((scope) => release(store, [request], () => scope, now)));
}

/** Starts the lease of one running call's places again, on every scope where it still holds one. */
export function renewAll(
  store: WindowStore,
  request: Pick<AcquireRequest, "requestId" | "callId" | "attempt" | "scopes">,
  now: () => number,
): Promise<void> {
  const holder = holderOf(request);
  return settleAll(
    request.scopes
      .filter((scope) => scope.concurrent)
      .map((scope) =>
        store.update(scope, (state) => ({ next: renewScope(state, scope, holder, now()), result: undefined })),
      ),
  );
}

/**
 * Applies a correction of an admitted cost, an upstream's block, the end of a call holding places, or
 * the renewal of their lease while it runs.
 */
export async function applyFeedback(store: WindowStore, feedback: RateLimitFeedback, now: () => number): Promise<void> {
  if (feedback.op === "release") return releaseAll(store, feedback, now);
  if (feedback.op === "renew") return renewAll(store, feedback, now);
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
