import { describe, expect, it } from "vitest";
import { RateLimitsConfigSchema } from "@toolformer/protocol";
import { configuredScopesFor } from "./configured-scopes.ts";

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

  it("refuse a configuration with a typo instead of ignoring it", () => {
    expect(
      RateLimitsConfigSchema.safeParse({ scopes: [{ name: "g", limit: 1, intervalMs: 1, mtach: {} }] }).success,
    ).toBe(false);
  });
});
