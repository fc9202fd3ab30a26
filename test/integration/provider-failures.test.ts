import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Scenario } from "@toolformer/fake-llm";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

/** Fails with the given errors first, then answers; counts the attempts it saw. */
function flaky(errors: { status: number; message: string; retryAfterMs?: number }[]): {
  scenario: Scenario;
  attempts: number[];
} {
  const attempts: number[] = [];
  const scenario: Scenario = () => {
    attempts.push(Date.now());
    const error = errors[attempts.length - 1];
    return error ? { error } : { text: "recovered" };
  };
  return { scenario, attempts };
}

describe("model provider failures", () => {
  let env: TestEnvironment;
  const unavailable = flaky([
    { status: 500, message: "overloaded" },
    { status: 503, message: "still overloaded" },
  ]);
  const limited = flaky([{ status: 429, message: "slow down", retryAfterMs: 700 }]);
  const refused = flaky([{ status: 401, message: "bad key sk-live-abcdefghijkl" }]);
  const hopeless = flaky(Array.from({ length: 10 }, () => ({ status: 429, message: "no", retryAfterMs: 5_000 })));
  const cut = flaky([]);
  beforeAll(async () => {
    env = await startEnvironment({
      scenarios: {
        unavailable: unavailable.scenario,
        limited: limited.scenario,
        refused: refused.scenario,
        hopeless: hopeless.scenario,
        cutOnce: (conversation) => {
          cut.attempts.push(Date.now());
          return cut.attempts.length === 1
            ? { text: "half an answ", streamFault: { kind: "cut", afterChunks: 2 } }
            : { text: `fine after ${conversation.messages.length} message(s)` };
        },
      },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it("retries 5xx with backoff and completes", async () => {
    const reply = await env.client.request({ prompt: "x", model: "fake:unavailable" });
    expect(reply).toMatchObject({ status: "completed", answer: "recovered" });
    expect(unavailable.attempts).toHaveLength(3);
  });

  it("waits what a 429's retry-after advises before asking again", async () => {
    const reply = await env.client.request({ prompt: "x", model: "fake:limited" });
    expect(reply.status).toBe("completed");
    expect(limited.attempts).toHaveLength(2);
    expect((limited.attempts[1] ?? 0) - (limited.attempts[0] ?? 0)).toBeGreaterThanOrEqual(700);
  });

  it("fails at once on 4xx with the provider's message and never the key", async () => {
    const reply = await env.client.request({ prompt: "x", model: "fake:refused" });
    expect(reply).toMatchObject({ status: "failed", error: { code: "PROVIDER_ERROR" } });
    expect(reply.error?.message).toContain("bad key");
    expect(reply.error?.message).not.toContain("sk-live-abcdefghijkl");
    expect(refused.attempts).toHaveLength(1);
  });

  it("does not retry past the deadline", async () => {
    // The decision against the clock is decideRetry's (retry-policy.test.ts); here, that it is followed.
    const reply = await env.client.request({ prompt: "x", model: "fake:hopeless", options: { timeoutMs: 2_000 } });
    expect(reply).toMatchObject({ status: "failed", error: { code: "PROVIDER_ERROR" } });
    expect(hopeless.attempts).toHaveLength(1);
  });

  it("treats a cut stream as a passing failure: asks again and completes", async () => {
    const reply = await env.client.request({ prompt: "x", model: "fake:cutOnce" });
    expect(reply).toMatchObject({ status: "completed", answer: "fine after 1 message(s)" });
    expect(cut.attempts).toHaveLength(2);
  });
});
