import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { spawnActors, waitForActors, type ActorProcesses } from "@toolformer/cli";
import { rateLimitLineOf } from "@toolformer/protocol";
import { ownerOf } from "@toolformer/rate-limiter";
import { defineTool, EXAMPLE_TOOLS } from "@toolformer/tools";
import { maxInAnyWindow } from "@toolformer/testing";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

const LIMIT = { limit: 4, intervalMs: 1_000 };
/**
 * Delay between a permit and the tool's start (the executor stores its tool.started event in between),
 * allowed on a busy machine, as in remote-tool.test.ts: windows are this much shorter than the limit's.
 */
const DELIVERY_JITTER_MS = 100;
const CALLS = 24;

/** Starts of each call, where the tool runs (the executors are in this process). */
const starts = new Map<string, number[]>();
const limited = defineTool({
  name: "limited_work",
  description: "An upstream that allows four calls a second.",
  parameters: z.object({ value: z.string() }),
  idempotent: false,
  rateLimit: LIMIT,
  async run({ value }, ctx) {
    starts.set(ctx.callId, [...(starts.get(ctx.callId) ?? []), Date.now()]);
    await sleep(100, undefined, { signal: ctx.signal });
    return { value };
  },
});

describe("a rate limiter stopped with SIGTERM while calls wait in its line", () => {
  let env: TestEnvironment;
  let limiters: ActorProcesses;
  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, limited],
      copies: { rateLimiter: 0 },
      waitForTools: ["limited_work"],
      scenarios: {
        burst: {
          turns: [
            {
              toolCalls: Array.from({ length: CALLS }, (_, i) => ({
                id: `c${i}`,
                name: "limited_work",
                arguments: { value: `v${i}` },
              })),
            },
            { text: "all done" },
          ],
        },
      },
    });
    // Known ids, so the test knows which copy serves the tool's line.
    limiters = spawnActors(
      { "rate-limiter": 2 },
      { ...process.env, NATS_URL: env.natsUrl, LOG_LEVEL: "error" },
      {
        output: "ignore",
        credentials: env.nats.credentials,
        envForCopy: (_name, copy) => ({ TF_ACTOR_ID: `limiter-${copy}` }),
      },
    );
    await waitForActors(env.natsUrl, { "rate-limiter": 2 }, 15_000, env.nats.credentials("admin"));
  });
  afterAll(async () => {
    await limiters?.stop();
    await env?.[Symbol.asyncDispose]();
  });

  it("exits in seconds; its line goes on at another copy, under the limit, and every call runs once", async () => {
    const reply = env.client.request({
      prompt: "x",
      model: "fake:burst",
      options: { maxParallel: CALLS, earlyDispatch: false, timeoutMs: 60_000 },
    });
    while (starts.size < LIMIT.limit + 1) await sleep(20);
    const line = rateLimitLineOf({ kind: "tool", name: "limited_work" });
    const owner = ownerOf(line, ["limiter-1", "limiter-2"]);
    const victim = limiters.running().find((copy) => `limiter-${copy.copy}` === owner)!;
    const exit = await limiters.signal(victim, "SIGTERM", 25_000);
    console.info(`rate limiter stop: exited ${exit.code ?? exit.signal} after ${exit.afterMs} ms`);
    expect(exit.forced).toBe(false);
    expect(exit.code).toBe(0);
    expect(exit.afterMs).toBeLessThan(10_000);

    const answered = await reply;
    expect(answered.status).toBe("completed");
    expect(answered.toolCalls.map((call) => [call.id, call.status, call.result])).toEqual(
      Array.from({ length: CALLS }, (_, i) => [`c${i}`, "succeeded", { value: `v${i}` }]),
    );
    expect([...starts.values()].every((times) => times.length === 1)).toBe(true);
    // The hand-over kept the limit: no window of the upstream saw more than it allows.
    const times = [...starts.values()].flat().sort((a, b) => a - b);
    expect(maxInAnyWindow(times, LIMIT.intervalMs - DELIVERY_JITTER_MS)).toBeLessThanOrEqual(LIMIT.limit);
  }, 60_000);
});
