import { RATE_LIMIT_START_GUARD_MS, type RateLimitScope } from "@toolformer/protocol";

/** Confirmations of a late grant before the call goes anyway: a machine that slow cannot do better. */
export const MAX_CONFIRMATIONS = 5;

/**
 * A call that started later than this after its grant's count has its start counted again. A third of
 * RATE_LIMIT_START_GUARD_MS: the rest of the guard absorbs the hop to the upstream of a call started
 * within it, which is counted from its grant.
 */
export const RECOUNT_AFTER_MS = RATE_LIMIT_START_GUARD_MS / 3;

/**
 * Whether a grant that reached its caller `lateMs` after its start was counted is confirmed before the
 * call starts: have the start counted from now, then judge that answer. Only a grant late by half the
 * shortest window or more is, until asking is over (MAX_CONFIRMATIONS, or the copy is stopping). Any
 * other starts at once and, when it started late, is counted again once it started (`needsRecount`),
 * from when the limiter hears of it: long before that window could admit anything against the first
 * count. Waiting for a confirmation instead cost each late call a round trip, and after a burst of
 * grants the answers came late again and were asked again, each time moving the start later
 * (docs/adr/0029, 0044).
 */
export function confirmBeforeStart(
  lateMs: number,
  scopes: readonly RateLimitScope[],
  confirmations: number,
  stopping: boolean,
): boolean {
  const shortest = shortestWindowMs(scopes);
  if (shortest === undefined || lateMs < shortest / 2) return false;
  return !stopping && confirmations < MAX_CONFIRMATIONS;
}

/** Whether a call that started `lateMs` after its grant's count has its start counted again. */
export function needsRecount(lateMs: number, scopes: readonly RateLimitScope[]): boolean {
  return lateMs > RECOUNT_AFTER_MS && shortestWindowMs(scopes) !== undefined;
}

/**
 * The shortest window among the scopes that count starts; undefined when none does. A concurrency cap
 * counts calls running, not starts: when one starts does not matter to it.
 */
export function shortestWindowMs(scopes: readonly RateLimitScope[]): number | undefined {
  const windows = scopes.filter((scope) => !scope.blockOnly && !scope.concurrent).map((scope) => scope.intervalMs);
  return windows.length === 0 ? undefined : Math.min(...windows);
}
