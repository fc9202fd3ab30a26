import type { KV } from "@nats-io/kv";
import {
  RATE_LIMIT_KEYS,
  RateLimitsConfigSchema,
  type AcquireTarget,
  type ConfiguredScope,
  type RateLimitScope,
} from "@toolformer/protocol";
import { followKv, whileStarting, type KvFollower } from "@toolformer/runtime";
import { type Logger } from "@toolformer/runtime";
import { decodeValidated } from "@toolformer/runtime";

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
 * The watch outlives a node's death (`followKv`): changes may come late, never stop coming.
 */
export class ConfiguredScopes {
  #scopes: readonly ConfiguredScope[] = [];
  readonly #log: Logger;
  #follower: KvFollower | undefined;

  private constructor(log: Logger) {
    this.#log = log;
  }

  static async watch(kv: KV, log: Logger): Promise<ConfiguredScopes> {
    const configured = new ConfiguredScopes(log);
    const current = await whileStarting(() => kv.get(RATE_LIMIT_KEYS.config));
    if (current?.operation === "PUT") configured.#apply(current.value);
    configured.#follower = await followKv(
      kv,
      RATE_LIMIT_KEYS.config,
      (entry) => configured.#apply(entry.operation === "PUT" ? entry.value : undefined),
      log,
      "the rate-limit configuration",
    );
    return configured;
  }

  for(target: AcquireTarget, tenant: string): RateLimitScope[] {
    return configuredScopesFor(this.#scopes, target, tenant);
  }

  stop(): void {
    this.#follower?.stop();
  }

  #apply(value: Uint8Array | undefined): void {
    if (value === undefined || value.length === 0) return void (this.#scopes = []);
    const decoded = decodeValidated(value, undefined, RateLimitsConfigSchema, "msgpack");
    if (decoded.ok) this.#scopes = decoded.value.scopes;
    else this.#log.warn({ error: decoded.error }, "ignoring a malformed rate-limit configuration");
  }
}
