import { ErrorCode, RetryableError, TerminalError } from "@toolformer/protocol";
import { describe, expect, it } from "vitest";
import { decideRetry, MAX_MODEL_ATTEMPTS } from "./retry-policy.ts";

const transient = (retryAfterMs = 0) => new RetryableError(ErrorCode.PROVIDER_ERROR, "503", retryAfterMs);

describe("decideRetry", () => {
  it("never retries a terminal error", () => {
    expect(decideRetry(new TerminalError(ErrorCode.PROVIDER_ERROR, "401"), 1, 0, 60_000, 0.5)).toMatchObject({
      retry: false,
    });
    expect(decideRetry(new Error("bug"), 1, 0, 60_000, 0.5)).toMatchObject({ retry: false });
  });

  it("waits at least what the provider advised", () => {
    expect(decideRetry(transient(1_500), 1, 0, 60_000, 0.1)).toEqual({ retry: true, delayMs: 1_500 });
  });

  it("backs off exponentially with jitter when there is no advice", () => {
    const delays = [1, 2, 3, 4].map((attempt) => decideRetry(transient(), attempt, 0, 60_000, 1));
    expect(delays.map((d) => (d.retry ? d.delayMs : -1))).toEqual([200, 400, 800, 1600]);
    expect(decideRetry(transient(), 3, 0, 60_000, 0.25)).toEqual({ retry: true, delayMs: 200 });
  });

  it("stops at the attempt limit and before the deadline", () => {
    expect(decideRetry(transient(), MAX_MODEL_ATTEMPTS, 0, 60_000, 1)).toMatchObject({ retry: false });
    expect(decideRetry(transient(2_000), 1, 59_000, 60_000, 1)).toMatchObject({
      retry: false,
      reason: expect.stringMatching(/deadline/),
    });
  });
});
