import { CONCURRENCY_RECHECK_MS, type RateLimitScope } from "@toolformer/protocol";
import { admitBucket, shiftBucket } from "./token-bucket.ts";
import {
  admitSliding,
  blockedFor,
  correct,
  costOf,
  entryOfHolder,
  liveEntryOfHolder,
  release,
  restamp,
  usedIn,
  type WindowState,
} from "./sliding-window.ts";

/** A scope's decision: `next` is the state to write, absent when nothing changes. */
export type ScopeDecision = { admitted: true; next?: WindowState } | { admitted: false; retryAfterMs: number };

/**
 * One scope's admission of one holder, whatever its algorithm. Asking again for a holder already
 * admitted (a lost or late reply) is granted again without counting twice, its start moved to now.
 */
export function admitScope(state: WindowState, scope: RateLimitScope, now: number, holder: string): ScopeDecision {
  const blocked = blockedFor(state, now);
  if (blocked !== undefined) return { admitted: false, retryAfterMs: blocked };
  if (scope.blockOnly) return { admitted: true };
  if (entryOfHolder(state, holder)) return { admitted: true, next: restamp(state, holder, now) };
  if (scope.concurrent) {
    // A place frees when a call ends, not when a window passes: look again soon.
    const decision = admitSliding(state, scope.limit, scope.intervalMs, now, holder, scope.cost);
    return decision.admitted ? decision : { admitted: false, retryAfterMs: CONCURRENCY_RECHECK_MS };
  }
  return scope.burst === undefined
    ? admitSliding(state, scope.limit, scope.intervalMs, now, holder, scope.cost)
    : admitBucket(state, { ...scope, burst: scope.burst }, now, holder, scope.cost);
}

/** Gives back what `holder` took on this scope. */
export function releaseScope(state: WindowState, scope: RateLimitScope, holder: string, now: number): WindowState {
  const entry = entryOfHolder(state, holder);
  if (!entry) return state;
  return shiftBucket(release(state, holder), scope, -costOf(entry), now);
}

/**
 * Keeps `holder`'s concurrency place: its entry moves to now, so its lease starts again. Only a place
 * still held is kept: one given back, or whose lease has ended, is not taken again (a renewal admits
 * nothing, whatever waits for the place). Undefined when nothing changes.
 */
export function renewScope(
  state: WindowState,
  scope: RateLimitScope,
  holder: string,
  now: number,
): WindowState | undefined {
  if (!scope.concurrent || !liveEntryOfHolder(state, holder, scope.intervalMs, now)) return undefined;
  return restamp(state, holder, now);
}

/** Sets what `holder`'s admission really cost. */
export function correctScope(
  state: WindowState,
  scope: RateLimitScope,
  holder: string,
  cost: number,
  now: number,
): WindowState {
  const entry = entryOfHolder(state, holder);
  if (!entry) return state;
  return shiftBucket(correct(state, holder, cost), scope, cost - costOf(entry), now);
}

/**
 * How much of the scope's room is taken now, 0 to 1: what its window holds over its limit (over
 * `limit + burst` for a token bucket, over its places for a concurrency cap). A block-only scope has
 * no room of its own (undefined).
 */
export function usedShare(state: WindowState, scope: RateLimitScope, now: number): number | undefined {
  if (scope.blockOnly) return undefined;
  const room = scope.limit + (scope.concurrent ? 0 : (scope.burst ?? 0));
  return Math.min(1, usedIn(state, scope.intervalMs, now) / room);
}
