import { describe, expect, it } from "vitest";
import { estimateTurnTokens, modelScopes, OUTPUT_TOKENS_ALLOWANCE, UNLIMITED_REQUESTS } from "./model-limits.ts";

const limits = {
  "openai:gpt-4o": { requests: { limit: 500, intervalMs: 60_000 }, tokens: { limit: 200_000, intervalMs: 60_000 } },
  "anthropic:*": { requests: { limit: 50, intervalMs: 60_000 } },
};

describe("modelScopes", () => {
  it("gives a request scope and a token scope costing the estimate", () => {
    expect(modelScopes(limits, "openai:gpt-4o", 1234)).toEqual([
      { key: "model-requests:openai:gpt-4o", limit: 500, intervalMs: 60_000 },
      { key: "model-tokens:openai:gpt-4o", limit: 200_000, intervalMs: 60_000, cost: 1234 },
    ]);
  });

  it("falls back to the provider's limits, shared by its models, and else to a scope that only carries 429 blocks", () => {
    expect(modelScopes(limits, "anthropic:claude-haiku", 10)).toEqual([
      { key: "model-requests:anthropic:*", limit: 50, intervalMs: 60_000 },
    ]);
    expect(modelScopes(limits, "fake:demo", 10)).toEqual([{ key: "model-requests:fake:demo", ...UNLIMITED_REQUESTS }]);
  });
});

describe("estimateTurnTokens", () => {
  it("grows with the conversation and keeps room for the answer", () => {
    const small = estimateTurnTokens({ model: "m", messages: [{ role: "user", content: "hi" }], tools: [] });
    const large = estimateTurnTokens({
      model: "m",
      messages: [{ role: "user", content: "x".repeat(4000) }],
      tools: [],
    });
    expect(small).toBeGreaterThan(OUTPUT_TOKENS_ALLOWANCE);
    expect(large - small).toBeGreaterThanOrEqual(999);
  });
});
