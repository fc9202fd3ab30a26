import { describe, expect, it, vi } from "vitest";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import { concurrencyScope, RATE_LIMIT_KEYS, RateLimitsConfigSchema } from "@toolformer/protocol";
import { ConfiguredScopes, configuredScopesFor } from "./configured-scopes.ts";
import { type Logger } from "@toolformer/runtime";
import { encodeInternal } from "@toolformer/runtime";

const { scopes } = RateLimitsConfigSchema.parse({
  scopes: [
    { name: "global", limit: 100, intervalMs: 1000 },
    { name: "per-tenant", perTenant: true, limit: 20, intervalMs: 1000, match: { kind: "tool" } },
    { name: "search", limit: 5, intervalMs: 1000, burst: 5, match: { names: ["web_search", "news"] } },
    { name: "vip-models", limit: 50, intervalMs: 60_000, match: { kind: "model", tenants: ["vip"] } },
  ],
});

describe("configured scopes", () => {
  it("apply to the acquires they match, one copy per tenant where asked", () => {
    const keys = (kind: "tool" | "model", name: string, tenant: string) =>
      configuredScopesFor(scopes, { kind, name }, tenant).map((scope) => scope.key);
    expect(keys("tool", "web_search", "acme")).toEqual(["config:global", "config:per-tenant:acme", "config:search"]);
    expect(keys("tool", "calculator", "beta")).toEqual(["config:global", "config:per-tenant:beta"]);
    expect(keys("model", "openai:gpt-4o", "acme")).toEqual(["config:global"]);
    expect(keys("model", "openai:gpt-4o", "vip")).toEqual(["config:global", "config:vip-models"]);
  });

  it("carry the algorithm's settings", () => {
    expect(configuredScopesFor(scopes, { kind: "tool", name: "news" }, "t")[2]).toEqual({
      key: "config:search",
      limit: 5,
      intervalMs: 1000,
      burst: 5,
    });
  });

  it("give tool calls a place under a concurrency cap, a tenant its own number where it has one", () => {
    const caps = RateLimitsConfigSchema.parse({
      scopes: [
        { name: "tenant-calls", perTenant: true, maxConcurrent: 2, maxConcurrentByTenant: { vip: 5 } },
        { name: "search-calls", maxConcurrent: 3, match: { names: ["web_search"] } },
      ],
    }).scopes;
    const tool = (name: string, tenant: string) => configuredScopesFor(caps, { kind: "tool", name }, tenant);
    expect(tool("web_search", "acme")).toEqual([
      concurrencyScope("concurrency:config:tenant-calls:acme", 2),
      concurrencyScope("concurrency:config:search-calls", 3),
    ]);
    expect(tool("echo", "vip")).toEqual([concurrencyScope("concurrency:config:tenant-calls:vip", 5)]);
    // Only a tenant's own entry counts, not what every object inherits.
    expect(tool("echo", "constructor")).toEqual([concurrencyScope("concurrency:config:tenant-calls:constructor", 2)]);
    // Nothing gives a model turn's place back: a cap never applies to one.
    expect(configuredScopesFor(caps, { kind: "model", name: "openai:gpt-4o" }, "acme")).toEqual([]);
  });

  it("refuse a cap that cannot hold: on models, per-tenant numbers without perTenant, mixed with a window", () => {
    const refused = (scope: object) => RateLimitsConfigSchema.safeParse({ scopes: [scope] }).error?.issues[0]?.message;
    expect(refused({ name: "m", maxConcurrent: 2, match: { kind: "model" } })).toBe(
      "a concurrency cap counts tool calls only; it cannot match models",
    );
    expect(refused({ name: "t", maxConcurrent: 2, maxConcurrentByTenant: { vip: 5 } })).toBe(
      "maxConcurrentByTenant needs perTenant: true",
    );
    expect(refused({ name: "w", maxConcurrent: 2, limit: 5, intervalMs: 1000 })).toBe(
      "a scope is either a window (limit, intervalMs, burst) or a concurrency cap (maxConcurrent)",
    );
  });

  it("refuse a configuration with a typo instead of ignoring it", () => {
    expect(
      RateLimitsConfigSchema.safeParse({ scopes: [{ name: "g", limit: 1, intervalMs: 1, mtach: {} }] }).success,
    ).toBe(false);
  });
});

/** A watch that yields `entries` and then ends, as nats.js ends one whose consumer it could not make again. */
function endingWatch(entries: Partial<KvWatchEntry>[]) {
  return {
    stop() {},
    async *[Symbol.asyncIterator]() {
      yield* entries;
    },
  };
}

describe("configured scopes kept current", () => {
  it("watch again when the watch ends by itself, so a change made meanwhile still arrives", async () => {
    const config = { scopes: [{ name: "global", limit: 10, intervalMs: 1000 }] };
    const watches = [
      endingWatch([]),
      endingWatch([{ operation: "PUT", value: encodeInternal(RateLimitsConfigSchema.parse(config)) }]),
    ];
    const kv = {
      get: async () => null,
      watch: vi.fn(async () => watches.shift() ?? endingWatch([])),
    } as unknown as KV;
    const log = { warn: vi.fn() } as unknown as Logger;

    const configured = await ConfiguredScopes.watch(kv, log);
    await vi.waitFor(() => expect(configured.for({ kind: "tool", name: "echo" }, "t")).toHaveLength(1));
    configured.stop();
    expect(log.warn).toHaveBeenCalledWith(
      { key: RATE_LIMIT_KEYS.config },
      "the watch of the rate-limit configuration ended; watching again",
    );
  });
});
