import { describe, expect, it } from "vitest";
import { rateLimitOf } from "./mcp-tools.ts";

const failedWith = (text: string, meta?: Record<string, unknown>) =>
  rateLimitOf({ isError: true, content: [{ type: "text", text }], ...(meta ? { _meta: meta } : {}) }, text);

describe("an MCP tool's failed result that says it is rate limited", () => {
  it("is read from _meta.retryAfter (seconds), or from its text", () => {
    expect(failedWith("quota exhausted", { retryAfter: 2.5 })?.retryAfterMs).toBe(2_500);
    expect(failedWith("429 Too Many Requests. Retry after 30 seconds")?.retryAfterMs).toBe(30_000);
    expect(failedWith("Rate limit exceeded, retry-after: 750 ms")?.retryAfterMs).toBe(750);
    expect(failedWith("rate limited")?.retryAfterMs).toBe(1_000); // the default when it does not say
  });

  it("is not any other failure", () => {
    expect(failedWith("the answer is not available")).toBeUndefined();
    expect(failedWith("file not found: /data/limits.txt")).toBeUndefined();
  });
});
