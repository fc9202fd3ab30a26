import type { KV } from "@nats-io/kv";
import {
  RATE_LIMIT_KEYS,
  RateLimitsConfigSchema,
  type AcquireTarget,
  type ConfiguredScope,
  type RateLimitScope,
} from "@toolformer/protocol";
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
 */
export class ConfiguredScopes {
  #scopes: readonly ConfiguredScope[] = [];
  #watch: { stop(): void } | undefined;

  static async watch(kv: KV, log: Logger): Promise<ConfiguredScopes> {
    const configured = new ConfiguredScopes();
    const apply = (value: Uint8Array | undefined) => {
      if (value === undefined || value.length === 0) return void (configured.#scopes = []);
      const decoded = decodeValidated(value, undefined, RateLimitsConfigSchema, "msgpack");
      if (decoded.ok) configured.#scopes = decoded.value.scopes;
      else log.warn({ error: decoded.error }, "ignoring a malformed rate-limit configuration");
    };
    const current = await kv.get(RATE_LIMIT_KEYS.config);
    if (current?.operation === "PUT") apply(current.value);
    const watch = await kv.watch({ key: RATE_LIMIT_KEYS.config });
    configured.#watch = watch;
    void (async () => {
      for await (const entry of watch) apply(entry.operation === "PUT" ? entry.value : undefined);
    })();
    return configured;
  }

  for(target: AcquireTarget, tenant: string): RateLimitScope[] {
    return configuredScopesFor(this.#scopes, target, tenant);
  }

  stop(): void {
    this.#watch?.stop();
  }
}
