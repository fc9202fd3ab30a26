import { RATE_LIMIT_START_GUARD_MS, type RateLimitScope } from "@toolformer/protocol";

/** Confirmations of a late grant before the call goes anyway: a machine that slow cannot do better. */
export const MAX_CONFIRMATIONS = 5;

/**
 * A grant later than this is counted again. A third of RATE_LIMIT_START_GUARD_MS: the rest of the
 * guard absorbs what comes after the caller measured, its own way to the start (a busy event loop after
 * a burst of grants) and the hop to the upstream.
 */
export const RECOUNT_AFTER_MS = RATE_LIMIT_START_GUARD_MS / 3;

/**
 * What a caller does with a grant that reached it `lateMs` after its start was counted:
 * - `start`: on time (within RECOUNT_AFTER_MS), or past asking;
 * - `startAndRecount`: start now, and have the start counted again, from when the limiter hears of it
 *   (about when the call started, or later), without waiting for the answer. Safe while the grant is
 *   late by less than half the shortest window: the recount reaches the limiter long before that
 *   window could admit anything against the start first counted. Waiting for the answer instead cost
 *   each late call a round trip, and after a burst of grants the answers came late again and were
 *   asked again, each time moving the start later (docs/adr/0029);
 * - `confirmFirst`: have the start counted from now before the call starts (then judge that answer).
 */
export function lateGrantAction(
  lateMs: number,
  scopes: readonly RateLimitScope[],
  confirmations: number,
  stopping: boolean,
): "start" | "startAndRecount" | "confirmFirst" {
  const shortest = shortestWindowMs(scopes);
  if (lateMs <= RECOUNT_AFTER_MS || shortest === undefined) return "start";
  if (lateMs < shortest / 2) return "startAndRecount";
  return stopping || confirmations >= MAX_CONFIRMATIONS ? "start" : "confirmFirst";
}

/**
 * The shortest window among the scopes that count starts; undefined when none does. A concurrency cap
 * counts calls running, not starts: when one starts does not matter to it.
 */
export function shortestWindowMs(scopes: readonly RateLimitScope[]): number | undefined {
  const windows = scopes.filter((scope) => !scope.blockOnly && !scope.concurrent).map((scope) => scope.intervalMs);
  return windows.length === 0 ? undefined : Math.min(...windows);
}
