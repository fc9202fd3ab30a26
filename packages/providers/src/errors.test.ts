import { describe, expect, it } from "vitest";
import { RetryableError, TerminalError } from "@toolformer/protocol";
import { providerError, rateLimitResetMs } from "./errors.ts";

const withHeaders = (status: number, headers: Record<string, string>) => ({
  status,
  headers: new Headers(headers),
  message: `${status} status code`,
});

describe("providerError", () => {
  it("waits what retry-after says, else what the x-ratelimit reset headers say", () => {
    expect((providerError("openai", withHeaders(429, { "retry-after": "2" })) as RetryableError).retryAfterMs).toBe(
      2_000,
    );
    expect(
      (providerError("openai", withHeaders(429, { "retry-after-ms": "150" })) as RetryableError).retryAfterMs,
    ).toBe(150);
    const reset = providerError(
      "openai",
      withHeaders(429, { "x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s" }),
    );
    expect((reset as RetryableError).retryAfterMs).toBe(360_000);
  });

  it("makes 5xx and connection failures retryable and other 4xx terminal", () => {
    expect(providerError("anthropic", withHeaders(529, {}))).toBeInstanceOf(RetryableError);
    expect(providerError("anthropic", { message: "Connection error." })).toBeInstanceOf(RetryableError);
    expect(providerError("anthropic", withHeaders(403, {}))).toBeInstanceOf(TerminalError);
  });

  it("scrubs a key the provider echoes from the message and from the cause a logger prints", () => {
    const sdkError = Object.assign(new Error("401 Incorrect API key provided: sk-abcdef0123456789."), { status: 401 });
    const error = providerError("openai", sdkError);
    const cause = error.cause as Error;
    expect(error.message).toBe("openai: 401 Incorrect API key provided: [redacted].");
    expect(cause.message).toBe("401 Incorrect API key provided: [redacted].");
    expect(cause.stack).not.toContain("sk-abcdef");
    expect(cause.stack).toContain("errors.test.ts"); // where it was thrown still shows
  });
});

describe("rateLimitResetMs", () => {
  it("reads OpenAI's duration format and ignores anything else", () => {
    expect(rateLimitResetMs(new Headers({ "x-ratelimit-reset-requests": "250ms" }))).toBe(250);
    expect(rateLimitResetMs(new Headers({ "x-ratelimit-reset-tokens": "1m30.5s" }))).toBe(90_500);
    expect(rateLimitResetMs(new Headers({ "x-ratelimit-reset-tokens": "soon" }))).toBeUndefined();
    expect(rateLimitResetMs(new Headers())).toBeUndefined();
  });
});
