import { Kvm } from "@nats-io/kv";
import { ContentType, decode, INTERNAL_SUBJECTS, KV_BUCKETS, subjectToken } from "@toolformer/protocol";
import { sendRateLimitFeedback } from "@toolformer/rate-limit-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Scenario } from "@toolformer/fake-llm";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

function recording(turn: (calls: number) => ReturnType<Extract<Scenario, (...args: never[]) => unknown>>) {
  const at: number[] = [];
  const scenario: Scenario = () => {
    at.push(Date.now());
    return turn(at.length);
  };
  return { scenario, at };
}

describe("per-model request and token limits", () => {
  let env: TestEnvironment;
  const paced = recording(() => ({ text: "ok" }));
  const thrifty = recording(() => ({ text: "ok" }));
  const once = recording(() => ({ text: "ok" }));
  const busy = recording((n) =>
    n === 1 ? { error: { status: 429, message: "slow down", retryAfterMs: 800 } } : { text: "ok" },
  );
  const free = recording(() => ({ text: "ok" }));
  const shunned = recording(() => ({ text: "ok" }));
  beforeAll(async () => {
    env = await startEnvironment({
      scenarios: {
        paced: paced.scenario,
        thrifty: thrifty.scenario,
        once: once.scenario,
        busy: busy.scenario,
        free: free.scenario,
        shunned: shunned.scenario,
      },
      modelLimits: {
        "fake:paced": { requests: { limit: 2, intervalMs: 1_000 } },
        "fake:thrifty": { tokens: { limit: 3_000, intervalMs: 60_000 } },
        "fake:once": { requests: { limit: 1, intervalMs: 60_000 } },
      },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it("never admits more model requests than the limit, in any window, across requests", async () => {
    const started = Date.now();
    const replies = await Promise.all(
      Array.from({ length: 5 }, () => env.client.request({ prompt: "x", model: "fake:paced" })),
    );
    expect(replies.every((r) => r.status === "completed")).toBe(true);
    expect(paced.at).toHaveLength(5);
    // Two per second: the fifth cannot be admitted before two full windows have passed. (Arrival times at
    // the provider are not asserted: on a loaded machine a call can reach it late, which the limit cannot help.)
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    // And the limiter's own record of admissions (its KV window) never holds more than two a second.
    const bucket = await new Kvm(env.admin).open(KV_BUCKETS.rateLimits);
    const entry = await bucket.get(subjectToken("model-requests:fake:paced"));
    const admitted = (
      (entry ? decode(entry.value, ContentType.msgpack) : { starts: [] }) as { starts: [number][] }
    ).starts.map(([at]) => at);
    expect(admitted.length).toBeGreaterThan(0);
    for (const start of admitted)
      expect(admitted.filter((t) => t >= start && t < start + 1_000).length).toBeLessThanOrEqual(2);
  });

  it("corrects token estimates with the reported usage, so the budget is not used up by guesses", async () => {
    // Each turn is estimated at over 1 000 tokens but uses far fewer: without the correction the third would wait a minute.
    for (let i = 0; i < 4; i++) {
      const reply = await env.client.request({ prompt: "x", model: "fake:thrifty", options: { timeoutMs: 5_000 } });
      expect(reply.status, `request ${i}`).toBe("completed");
    }
  });

  it("fails fast with RATE_LIMITED when the model has no room before the deadline", async () => {
    expect((await env.client.request({ prompt: "x", model: "fake:once" })).status).toBe("completed");
    // That the refusal comes at once, not at the deadline, is the waiting room's decision (waiting-room.test.ts).
    const reply = await env.client.request({ prompt: "x", model: "fake:once", options: { timeoutMs: 3_000 } });
    expect(reply).toMatchObject({ status: "failed", error: { code: "RATE_LIMITED" } });
    expect(once.at).toHaveLength(1);
  });

  it("holds back every request to a model after it answered 429, for the advised time, limits configured or not", async () => {
    const first = env.client.request({ prompt: "x", model: "fake:busy" });
    await new Promise((resolve) => setTimeout(resolve, 150));
    const second = env.client.request({ prompt: "x", model: "fake:busy" });
    const replies = await Promise.all([first, second]);
    expect(replies.map((r) => r.status)).toEqual(["completed", "completed"]);
    const [blockedAt = 0, ...later] = busy.at;
    expect(later).toHaveLength(2);
    for (const t of later) expect(t - blockedAt).toBeGreaterThanOrEqual(780);
  });

  it("does not ask the limiter about a model without limits while no upstream block is in force", async () => {
    // The first request starts the dispatcher's watch of the model's scope (and may ask once meanwhile).
    expect((await env.client.request({ prompt: "x", model: "fake:free" })).status).toBe("completed");
    const asked: string[] = [];
    const spy = env.admin.subscribe(INTERNAL_SUBJECTS.rateLimitLineWildcard, {
      callback: (_error, msg) => void asked.push(msg.subject),
    });
    try {
      for (let i = 0; i < 3; i++)
        expect((await env.client.request({ prompt: "x", model: "fake:free" })).status).toBe("completed");
      await env.admin.flush();
      expect(asked).toEqual([]);
      expect(free.at).toHaveLength(4);
    } finally {
      spy.unsubscribe();
    }
  });

  it("holds a model back after another caller reported its upstream's block, once the watch has seen it", async () => {
    expect((await env.client.request({ prompt: "x", model: "fake:shunned" })).status).toBe("completed");
    const scope = { key: "model-requests:fake:shunned", limit: 1, intervalMs: 60_000, blockOnly: true };
    const until = Date.now() + 1_000;
    await sendRateLimitFeedback(env.admin, {
      op: "block",
      requestId: "another-dispatcher",
      attempt: 1,
      deadline: until,
      traceparent: "",
      scope,
      until,
    });
    // The limiter wrote the block before it answered; the dispatcher's watch delivers it within moments.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await env.client.request({ prompt: "x", model: "fake:shunned" })).status).toBe("completed");
    expect(shunned.at).toHaveLength(2);
    expect(shunned.at[1]).toBeGreaterThanOrEqual(until - 20);
  });
});
