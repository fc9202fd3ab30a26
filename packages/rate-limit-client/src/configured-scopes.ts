import type { KV } from "@nats-io/kv";
import {
  concurrencyScope,
  RATE_LIMIT_KEYS,
  RateLimitsConfigSchema,
  type AcquireTarget,
  type ConfiguredScope,
  type RateLimitScope,
} from "@toolformer/protocol";
import { followKv, whileStarting, type KvFollower } from "@toolformer/runtime";
import { type Logger } from "@toolformer/runtime";
import { decodeValidated } from "@toolformer/runtime";

/**
 * The configured scopes that apply to one acquire, keyed so that every actor names them alike: a window
 * `config:<name>[:<tenant>]`, a concurrency cap `concurrency:config:<name>[:<tenant>]` (a key of its
 * own, so a window and a cap of one name never share state). A cap applies to tool calls only.
 */
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
    .flatMap((scope): RateLimitScope[] => {
      const name = scope.perTenant ? `${scope.name}:${tenant}` : scope.name;
      if (!("maxConcurrent" in scope)) {
        const { limit, intervalMs, burst } = scope;
        return [{ key: `config:${name}`, limit, intervalMs, ...(burst === undefined ? {} : { burst }) }];
      }
      if (target.kind !== "tool") return [];
      const byTenant = scope.maxConcurrentByTenant ?? {};
      // Own keys only: a tenant named like an Object property ("constructor") has no number of its own.
      const places = Object.hasOwn(byTenant, tenant) ? byTenant[tenant]! : scope.maxConcurrent;
      return [concurrencyScope(`concurrency:config:${name}`, places)];
    });
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
