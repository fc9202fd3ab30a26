import { RATE_LIMIT_START_GUARD_MS } from "@toolformer/protocol";
import { admitSliding, type Admission, type WindowState } from "./sliding-window.ts";

/**
 * A token bucket as GCRA: one number, the theoretical arrival time (TAT), advances by `cost` emission
 * intervals per admission; a call fits while the TAT is at most `burst` intervals ahead of now. That is
 * `burst` calls at once after idle, then `limit` per `intervalMs` sustained. The entries of the last
 * interval are logged as well, so a holder's admission can be recognised, given back or corrected, and
 * so "at most `limit + burst` in any window" holds even for starts moved later.
 */
export function admitBucket(
  state: WindowState,
  bucket: { limit: number; intervalMs: number; burst: number },
  now: number,
  holder: string,
  requestedCost = 1,
): Admission {
  const emissionMs = emissionIntervalMs(bucket);
  const cost = Math.min(requestedCost, bucket.burst);
  const tat = Math.max(state.tat ?? now, now) + cost * emissionMs;
  const overshoot = tat - now - bucket.burst * emissionMs;
  if (overshoot > 0) return { admitted: false, retryAfterMs: Math.max(1, Math.ceil(overshoot)) };
  // The promised bound, checked on the log too: a grant that reached its caller late has its logged start
  // moved to when the call really began, which the bucket's single number cannot express.
  const logged = admitSliding(state, bucket.limit + bucket.burst, bucket.intervalMs, now, holder, cost);
  return logged.admitted ? { admitted: true, next: { ...logged.next, tat } } : logged;
}

/** Moves the TAT by a change of cost (negative to give an admission back); never behind `now`. */
export function shiftBucket(
  state: WindowState,
  bucket: { limit: number; intervalMs: number },
  costChange: number,
  now: number,
): WindowState {
  if (state.tat === undefined) return state;
  return { ...state, tat: Math.max(now, state.tat + costChange * emissionIntervalMs(bucket)) };
}

/** The guard spaces bucket refills like window starts (sliding-window.ts). */
const emissionIntervalMs = (bucket: { limit: number; intervalMs: number }) =>
  (bucket.intervalMs + RATE_LIMIT_START_GUARD_MS) / bucket.limit;
