import type { KV, KvEntry } from "@nats-io/kv";
import { RATE_LIMIT_KEYS, ScopeBlockSchema, type RateLimitScope } from "@toolformer/protocol";
import { decodeValidated, followKv, type KvFollower, type Logger } from "@toolformer/runtime";

/**
 * The limit of a block-only scope: something (a model, a tool) with no configured limit still has a
 * scope, which counts nothing and costs one read, so that its upstream's 429 blocks every caller for
 * the advised time.
 */
export const BLOCK_ONLY_LIMIT = { limit: 1, intervalMs: 60_000, blockOnly: true } as const;

/** What is known of one block-only scope: until when it is blocked (0: not blocked). */
interface Known {
  blockedUntil: number;
}

/**
 * A caller's own view of the upstream blocks on block-only scopes (a model without configured limits:
 * its request scope counts nothing, and only an upstream's 429 blocks it), kept by a KV watch of each
 * scope's state. Asking the limiter for such a scope only ever reads that state, so while the view says
 * "not blocked" the caller skips the round trip to the limiter (two per request of a model without
 * limits). Anything the view cannot answer (a scope that counts, a scope not watched yet, a block in
 * force) goes to the limiter as before, which keeps the waiting line, its order and its fairness.
 *
 * A block written by another caller reaches this view as soon as the watch delivers it, where the
 * limiter would have seen it at its next read: a call that slips through meanwhile meets the upstream's
 * own 429 and backs off. A block this caller reports is in its view at once (`blocked`).
 */
export class UpstreamBlocks {
  readonly #kv: KV;
  readonly #log: Logger;
  readonly #known = new Map<string, Known>();
  /** Blocks this caller reported itself, by scope: until when. */
  readonly #reported = new Map<string, number>();
  readonly #followers = new Map<string, Promise<KvFollower | undefined>>();
  #stopped = false;

  constructor(kv: KV, log: Logger) {
    this.#kv = kv;
    this.#log = log;
  }

  /**
   * True when every scope is block-only and known not to be blocked at `now`, so asking the limiter
   * would only be granted at once. Starts watching a scope the first time it is asked about: until its
   * current state is read, the answer is false.
   */
  noneBlocked(scopes: readonly RateLimitScope[], now = Date.now()): boolean {
    if (scopes.length === 0 || !scopes.every((scope) => scope.blockOnly)) return false;
    let clear = true;
    for (const scope of scopes) {
      const known = this.#known.get(scope.key);
      if (!known) this.#watch(scope.key);
      if (!known || known.blockedUntil > now) clear = false;
    }
    return clear;
  }

  /**
   * Like `noneBlocked`, but a scope not watched yet (or whose watch failed) counts as not blocked: for a
   * caller whose upstream answers 429 itself (a tool), so that its calls do not wait on the limiters,
   * nor on their KV state while it elects a leader, to learn of a block that is rarely there. A call
   * that goes out before the watch is in place meets the upstream's own 429, which blocks the scope.
   */
  noneKnownBlocked(scopes: readonly RateLimitScope[], now = Date.now()): boolean {
    if (scopes.length === 0 || !scopes.every((scope) => scope.blockOnly)) return false;
    let clear = true;
    for (const scope of scopes) {
      const known = this.#known.get(scope.key);
      if (!known) this.#watch(scope.key);
      const blockedUntil = known?.blockedUntil ?? this.#reported.get(scope.key) ?? 0;
      if (blockedUntil > now) clear = false;
    }
    return clear;
  }

  /** This caller told the limiters the scopes are blocked until `until` (epoch ms): so is its own view. */
  blocked(scopes: readonly RateLimitScope[], until: number): void {
    for (const scope of scopes) {
      const reported = Math.max(this.#reported.get(scope.key) ?? 0, until);
      this.#reported.set(scope.key, reported);
      const known = this.#known.get(scope.key);
      if (known) known.blockedUntil = Math.max(known.blockedUntil, reported);
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const follower of this.#followers.values()) void follower.then((f) => f?.stop());
  }

  #watch(scopeKey: string): void {
    if (this.#followers.has(scopeKey) || this.#stopped) return;
    const key = RATE_LIMIT_KEYS.scope(scopeKey);
    // A block this caller reported holds even while the stored state does not show it yet.
    const apply = (entry: KvEntry | null) => {
      const stored = entry?.operation === "PUT" ? this.#blockedUntil(entry) : 0;
      this.#known.set(scopeKey, { blockedUntil: Math.max(stored, this.#reported.get(scopeKey) ?? 0) });
    };
    const follower = (async () => {
      // The current state first (the watch delivers nothing for a scope never written), then its changes.
      apply(await this.#kv.get(key));
      const following = await followKv(this.#kv, key, apply, this.#log, `the upstream block on ${scopeKey}`);
      if (this.#stopped) following.stop();
      return following;
    })().catch((error: unknown) => {
      // Not known: the limiter is asked, as without this view; the next question tries to watch again.
      this.#log.warn({ err: error, scope: scopeKey }, "could not watch a scope's upstream block");
      this.#known.delete(scopeKey);
      this.#followers.delete(scopeKey);
      return undefined;
    });
    this.#followers.set(scopeKey, follower);
  }

  #blockedUntil(entry: KvEntry): number {
    const decoded = decodeValidated(entry.value, undefined, ScopeBlockSchema, "msgpack");
    if (decoded.ok) return decoded.value.blockedUntil ?? 0;
    // Unreadable: treated as blocked, so the limiter (which reads it its own way) is asked.
    this.#log.warn({ scope: entry.key, error: decoded.error }, "ignoring an unreadable scope state");
    return Number.POSITIVE_INFINITY;
  }
}
