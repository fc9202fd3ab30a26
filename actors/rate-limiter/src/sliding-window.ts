/**
 * A sliding-window log: the start times admitted in the last interval. "At most `limit` starts in any
 * window of `intervalMs`" is exactly what an upstream that allows "5 calls a second" tolerates, which
 * a fixed window (twice the limit across a boundary) or a plain token bucket (a full burst after idle) is not.
 */
export interface WindowState {
  /** Admitted starts, oldest first: [epoch ms, holder] (the holder lets a refused multi-scope acquire give it back). */
  starts: [number, string][];
}

/**
 * Extra spacing added to every window. A permit is granted here but the call starts a hop later at
 * the upstream; the guard absorbs the difference in those delays between two calls, so the limit
 * still holds where the upstream counts (at a cost of about 1% of capacity on a one-second window).
 */
export const START_JITTER_GUARD_MS = 15;

export type Admission = { admitted: true; next: WindowState } | { admitted: false; retryAfterMs: number };

export function admit(
  state: WindowState,
  limit: number,
  requestedIntervalMs: number,
  now: number,
  holder: string,
): Admission {
  const intervalMs = requestedIntervalMs + START_JITTER_GUARD_MS;
  const live = state.starts.filter(([at]) => at > now - intervalMs);
  if (live.length < limit) return { admitted: true, next: { starts: [...live, [now, holder]] } };
  // The window frees a place when the start `limit` places back from the newest leaves it.
  const freeing = live[live.length - limit];
  const retryAfterMs = freeing ? Math.max(1, freeing[0] + intervalMs - now) : intervalMs;
  return { admitted: false, retryAfterMs };
}

/** Gives back a place taken by `holder` (when another scope of the same acquire refused). */
export function release(state: WindowState, holder: string): WindowState {
  return { starts: state.starts.filter(([, h]) => h !== holder) };
}
