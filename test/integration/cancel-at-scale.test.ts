import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { EventType } from "@toolformer/protocol";
import { defineTool, EXAMPLE_TOOLS } from "@toolformer/tools";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

const RUNNING = 50;
const QUEUED = 200;

/** Every start and every abort the executors' tool saw, in this process (the executors run in it). */
const starts: { callId: string; at: number }[] = [];
const aborts: { callId: string; at: number }[] = [];
const watched = defineTool({
  name: "watched_sleep",
  description: "Sleeps until cancelled, noting when it started and when its AbortSignal fired.",
  parameters: z.object({ ms: z.int().min(0) }),
  idempotent: true,
  async run({ ms }, ctx) {
    starts.push({ callId: ctx.callId, at: Date.now() });
    ctx.signal.addEventListener("abort", () => aborts.push({ callId: ctx.callId, at: Date.now() }), { once: true });
    await sleep(ms, undefined, { signal: ctx.signal });
    return { sleptMs: ms };
  },
});

describe("cancelling a request with 50 calls running and 200 queued, across 3 executors", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, watched],
      copies: { executor: 3 },
      waitForTools: ["watched_sleep"],
      scenarios: {
        wide: {
          turns: [
            {
              toolCalls: Array.from({ length: RUNNING + QUEUED }, () => ({
                name: "watched_sleep",
                arguments: { ms: 30_000 },
              })),
            },
            { text: "never reached" },
          ],
        },
      },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it("fires every running call's AbortSignal, starts nothing after the cancel, and replies cancelled", async () => {
    const id = `wide-${Date.now()}`;
    const reply = env.client.request({
      id,
      prompt: "x",
      model: "fake:wide",
      options: { maxParallel: RUNNING, earlyDispatch: false },
    });
    const giveUpAt = Date.now() + 15_000;
    while (starts.length < RUNNING) {
      expect(Date.now()).toBeLessThan(giveUpAt);
      await sleep(10);
    }
    const cancelledAt = Date.now();
    await env.client.cancel(id);
    const answered = await reply;
    const answeredAt = Date.now();

    expect(answered.status).toBe("cancelled");
    expect(answered.toolCalls).toHaveLength(RUNNING + QUEUED);
    expect(answered.toolCalls.filter((call) => call.status === "succeeded")).toEqual([]);
    expect(answered.toolCalls.filter((call) => call.startedAt === null)).toHaveLength(QUEUED);
    // Let any straggler show itself before counting.
    await sleep(500);
    expect(starts.filter((start) => start.at > cancelledAt)).toEqual([]);
    expect(starts).toHaveLength(RUNNING);
    expect(new Set(aborts.map((abort) => abort.callId))).toEqual(new Set(starts.map((start) => start.callId)));
    const lastAbortMs = Math.max(...aborts.map((abort) => abort.at)) - cancelledAt;
    console.info(
      `cancel: last of ${RUNNING} aborts ${lastAbortMs} ms after the cancel, reply after ${answeredAt - cancelledAt} ms`,
    );

    const executors = new Set<string>();
    for await (const event of env.client.events(id))
      if (event.type === EventType.toolStarted) executors.add(event.executor);
    expect(executors.size).toBe(3);
  });
});
