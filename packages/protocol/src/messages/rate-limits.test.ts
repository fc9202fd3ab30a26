import { describe, expect, it } from "vitest";
import {
  CONCURRENCY_LEASE_MS,
  CONCURRENCY_RENEW_MS,
  concurrencyRenewMs,
  concurrencyScope,
  RateLimitFeedbackSchema,
} from "./rate-limits.ts";

const envelope = { requestId: "r", callId: "c", attempt: 1, deadline: 1, traceparent: "" };

describe("concurrency places' lease", () => {
  it("is 30 s, renewed every third of it, and a cap's scope carries the lease it is given", () => {
    expect(CONCURRENCY_LEASE_MS).toBe(30_000);
    expect(CONCURRENCY_RENEW_MS).toBe(10_000);
    expect(concurrencyRenewMs(1_500)).toBe(500);
    expect(concurrencyScope("concurrency:all", 3)).toEqual({
      key: "concurrency:all",
      limit: 3,
      intervalMs: CONCURRENCY_LEASE_MS,
      concurrent: true,
    });
    expect(concurrencyScope("concurrency:all", 3, 2_000).intervalMs).toBe(2_000);
  });

  it("accepts a renewal of a call's places, and refuses one that names no scope", () => {
    const renew = { ...envelope, op: "renew", scopes: [concurrencyScope("concurrency:all", 3)] };
    expect(RateLimitFeedbackSchema.parse(renew)).toEqual(renew);
    expect(RateLimitFeedbackSchema.safeParse({ ...renew, scopes: [] }).success).toBe(false);
    expect(RateLimitFeedbackSchema.safeParse({ ...renew, callId: undefined }).success).toBe(false);
  });
});
