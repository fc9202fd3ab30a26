import type { KV, KvWatchEntry } from "@nats-io/kv";
import { setTimeout as sleep } from "node:timers/promises";
import {
  RATE_LIMIT_KEYS,
  RateLimitsConfigSchema,
  type AcquireTarget,
  type ConfiguredScope,
  type RateLimitScope,
} from "@toolformer/protocol";
import { backoffDelayMs } from "./backoff.ts";
import type { Logger } from "./logger.ts";
import { decodeValidated } from "./wire.ts";

/** The configured scopes that apply to one acquire, keyed so that every actor names them alike. */
export function configuredScopesFor(
  configured: readonly ConfiguredScope[],
  target: AcquireTarget,
  tenant: string,
): RateLimitScope[] {
  return configured
    .filter(({ match }) => {
      if (match.kind !== undefined && match.kind !== target.kind) return false;
      if (match.names !== undefined && !match.names.includes(target.name)) return false;
      return match.tenants === undefined || match.tenants.includes(tenant);
    })
    .map(({ name, perTenant, limit, intervalMs, burst }) => ({
      key: perTenant ? `config:${name}:${tenant}` : `config:${name}`,
      limit,
      intervalMs,
      ...(burst === undefined ? {} : { burst }),
    }));
}

/**
 * The operator's scopes as the rate limiters published them, kept current by a watch, so a caller
 * knows which limits apply to a call (and skips the limiter when none does).
 *
 * The watch is an ordered consumer on one node. When that node dies, the client recreates it after two
 * missed heartbeats (up to a minute: changes are late, not lost); when the client gives up on it, the
 * watch ends, and it is started again here, so the scopes never silently stop following the bucket.
 */
export class ConfiguredScopes {
  #scopes: readonly ConfiguredScope[] = [];
  readonly #kv: KV;
  readonly #log: Logger;
  #watch: { stop(): void } | undefined;
  #stopped = false;

  private constructor(kv: KV, log: Logger) {
    this.#kv = kv;
    this.#log = log;
  }

  static async watch(kv: KV, log: Logger): Promise<ConfiguredScopes> {
    const configured = new ConfiguredScopes(kv, log);
    const current = await kv.get(RATE_LIMIT_KEYS.config);
    if (current?.operation === "PUT") configured.#apply(current.value);
    const watch = await kv.watch({ key: RATE_LIMIT_KEYS.config });
    configured.#watch = watch;
    void configured.#follow(watch);
    return configured;
  }

  for(target: AcquireTarget, tenant: string): RateLimitScope[] {
    return configuredScopesFor(this.#scopes, target, tenant);
  }

  stop(): void {
    this.#stopped = true;
    this.#watch?.stop();
  }

  #apply(value: Uint8Array | undefined): void {
    if (value === undefined || value.length === 0) return void (this.#scopes = []);
    const decoded = decodeValidated(value, undefined, RateLimitsConfigSchema, "msgpack");
    if (decoded.ok) this.#scopes = decoded.value.scopes;
    else this.#log.warn({ error: decoded.error }, "ignoring a malformed rate-limit configuration");
  }

  /** Applies every change the watch sees; when the watch ends without `stop`, watches again (the latest value first). */
  async #follow(first: AsyncIterable<KvWatchEntry>): Promise<void> {
    let watch: AsyncIterable<KvWatchEntry> | undefined = first;
    for (let failures = 0; !this.#stopped;) {
      try {
        if (!watch) {
          const opened = await this.#kv.watch({ key: RATE_LIMIT_KEYS.config });
          this.#watch = opened;
          watch = opened;
          if (this.#stopped) return opened.stop();
        }
        for await (const entry of watch) {
          failures = 0;
          this.#apply(entry.operation === "PUT" ? entry.value : undefined);
        }
        if (!this.#stopped) this.#log.warn("the watch of the rate-limit configuration ended; watching again");
      } catch (error) {
        if (!this.#stopped)
          this.#log.warn({ err: error }, "the watch of the rate-limit configuration failed; watching again");
      }
      watch = undefined;
      if (!this.#stopped) await sleep(backoffDelayMs(++failures));
    }
  }
}
