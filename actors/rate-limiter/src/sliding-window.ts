import { RATE_LIMIT_START_GUARD_MS } from "@toolformer/protocol";

/**
 * A sliding-window log: what was admitted in the last interval, each entry with its cost (1 for a call,
 * a token count for a tokens-per-minute scope). "At most `limit` in any window of `intervalMs`" is what
 * an upstream that allows "5 calls a second" or "200k tokens a minute" tolerates, which a fixed window
 * (twice the limit across a boundary) or a plain token bucket (a full burst after idle) is not.
 */
export interface WindowState {
  /** Admitted entries, oldest first: [epoch ms, holder, cost (absent = 1)]. The holder lets an entry be given back or corrected. */
  starts: ([number, string] | [number, string, number])[];
  /** The upstream said "too many" (a 429): nothing is admitted before this time, epoch ms. */
  blockedUntil?: number;
  /** Token-bucket scopes only: the theoretical arrival time of GCRA (token-bucket.ts). */
  tat?: number;
}

type Entry = WindowState["starts"][number];

export type Admission = { admitted: true; next: WindowState } | { admitted: false; retryAfterMs: number };

export const costOf = (entry: Entry): number => entry[2] ?? 1;

const entryOf = (at: number, holder: string, cost: number): Entry => (cost === 1 ? [at, holder] : [at, holder, cost]);

/** The entries still inside the window that ends now (the guard included). */
function liveEntries(state: WindowState, intervalMs: number, now: number): Entry[] {
  const horizon = now - intervalMs - RATE_LIMIT_START_GUARD_MS;
  return state.starts.filter(([at]) => at > horizon);
}

/** What the entries inside the window that ends now cost together. */
export function usedIn(state: WindowState, intervalMs: number, now: number): number {
  return liveEntries(state, intervalMs, now).reduce((sum, entry) => sum + costOf(entry), 0);
}

/**
 * Admits `cost` more if it fits in the window now; otherwise says when enough will have left it. A cost
 * above the whole limit is treated as the whole limit: it waits for an empty window, then goes alone.
 */
export function admitSliding(
  state: WindowState,
  limit: number,
  requestedIntervalMs: number,
  now: number,
  holder: string,
  requestedCost = 1,
): Admission {
  const intervalMs = requestedIntervalMs + RATE_LIMIT_START_GUARD_MS;
  const cost = Math.min(requestedCost, limit);
  const live = liveEntries(state, requestedIntervalMs, now);
  const used = usedIn(state, requestedIntervalMs, now);
  if (used + cost <= limit)
    return { admitted: true, next: { ...state, starts: [...live, entryOf(now, holder, cost)] } };
  // Room appears as the oldest entries leave the window, one by one.
  let freed = 0;
  for (const entry of live) {
    freed += costOf(entry);
    if (used - freed + cost <= limit)
      return { admitted: false, retryAfterMs: Math.max(1, entry[0] + intervalMs - now) };
  }
  return { admitted: false, retryAfterMs: intervalMs };
}

/** While an upstream's block lasts, how long it still lasts. */
export function blockedFor(state: WindowState, now: number): number | undefined {
  return state.blockedUntil !== undefined && now < state.blockedUntil ? state.blockedUntil - now : undefined;
}

/** `holder`'s entry, when it is still in the log. */
export function entryOfHolder(state: WindowState, holder: string): Entry | undefined {
  return state.starts.find(([, h]) => h === holder);
}

/** `holder`'s entry while it is still inside the window that ends now (a concurrency place: in its lease). */
export function liveEntryOfHolder(
  state: WindowState,
  holder: string,
  intervalMs: number,
  now: number,
): Entry | undefined {
  return liveEntries(state, intervalMs, now).find(([, h]) => h === holder);
}

/** Gives back what `holder` took (when another scope of the same acquire refused). */
export function release(state: WindowState, holder: string): WindowState {
  return { ...state, starts: state.starts.filter(([, h]) => h !== holder) };
}

/** Sets what `holder`'s entry really cost (tokens counted after the call, where only an estimate was known before). */
export function correct(state: WindowState, holder: string, cost: number): WindowState {
  return { ...state, starts: state.starts.map((entry) => (entry[1] === holder ? [entry[0], holder, cost] : entry)) };
}

/**
 * Moves `holder`'s entry to `now`, for a grant that reached its caller late (the call starts now, so the
 * window must count it from now) or a concurrency place renewed (its lease starts again). Never over the
 * limit: the entry is already counted in every window that contains now, and later admissions see it.
 */
export function restamp(state: WindowState, holder: string, now: number): WindowState {
  const starts = state.starts.filter(([, h]) => h !== holder);
  const entry = entryOfHolder(state, holder);
  return entry ? { ...state, starts: [...starts, entryOf(now, holder, costOf(entry))] } : state;
}

/** An upstream's 429: admit nothing until `until` (the later of any two blocks wins). */
export function block(state: WindowState, until: number): WindowState {
  return { ...state, blockedUntil: Math.max(state.blockedUntil ?? 0, until) };
}
