import type { LimiterStats, RateLimitScope } from "@toolformer/protocol";

/** How long a scope no call has asked for stays in the report. */
export const RECENT_SCOPE_MS = 10 * 60_000;
/** The most scopes remembered; the least recently asked for go first. */
export const MAX_RECENT_SCOPES = 256;

/**
 * The scopes this copy was asked for lately, with their definitions (limits travel with each acquire,
 * the KV state holds none), so the dashboard and `toolformer status` can set a scope's use against its
 * limit. Pure: the caller passes the time.
 */
export class RecentScopes {
  readonly #seen = new Map<string, { scope: RateLimitScope; at: number }>();

  see(scopes: readonly RateLimitScope[], now: number): void {
    for (const scope of scopes) {
      this.#seen.delete(scope.key);
      this.#seen.set(scope.key, { scope, at: now });
    }
    while (this.#seen.size > MAX_RECENT_SCOPES) this.#seen.delete(this.#seen.keys().next().value!);
  }

  /** The report of `LimiterStatsSchema`: every recent scope and the line waiting for it here. */
  report(lines: readonly { key: string; waiting: number; oldestSince?: number }[], now: number): LimiterStats {
    for (const [key, { at }] of this.#seen) if (now - at > RECENT_SCOPE_MS) this.#seen.delete(key);
    const waitingBy = new Map(lines.map((line) => [line.key, line]));
    return {
      scopes: [...this.#seen.values()].map(({ scope }) => {
        const line = waitingBy.get(scope.key);
        return {
          scope,
          waiting: line?.waiting ?? 0,
          ...(line?.oldestSince === undefined ? {} : { oldestSince: line.oldestSince }),
        };
      }),
    };
  }
}
