import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { EventType } from "@toolformer/protocol";
import { EXAMPLE_TOOLS } from "@toolformer/tools";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";
import { CPU_TOOLS } from "../support/cpu-tools.ts";

const BURN_MS = 800;
const one = (name: string, args: unknown) => ({
  turns: [{ toolCalls: [{ name, arguments: args }] }, { text: "done" }],
});

describe("the worker pool for CPU-heavy tools", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, ...CPU_TOOLS],
      waitForTools: ["burn_in_worker", "sleep"],
      scenarios: {
        quick: {
          turns: [
            { toolCalls: Array.from({ length: 4 }, (_, i) => ({ name: "sleep", arguments: { ms: 200, value: i } })) },
            { text: "done" },
          ],
        },
        burnWorker: one("burn_in_worker", { ms: BURN_MS, after: 200 }),
        burnInline: one("burn_inline", { ms: BURN_MS, after: 200 }),
        hang: one("hang_in_worker", {}),
        hog: one("hog_in_worker", {}),
        throws: one("throw_in_worker", { n: 1 }),
        invalid: one("throw_in_worker", { n: "one" }),
        steps: one("steps", { steps: 3 }),
        stepsInWorker: one("steps_in_worker", { steps: 3 }),
      },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  const quickRequest = async () => {
    const t0 = performance.now();
    const reply = await env.client.request({ prompt: "x", model: "fake:quick" });
    expect(reply.status).toBe("completed");
    return performance.now() - t0;
  };

  /** A request of four 200 ms calls, sent so that `model`'s tool starts burning a core while it runs. */
  async function quickBeside(model: string): Promise<number> {
    const id = `burn-${Date.now()}-${Math.random()}`;
    const burning = env.client.request({ id, prompt: "x", model });
    for await (const event of env.client.events(id)) if (event.type === EventType.toolStarted) break;
    await sleep(100);
    const ms = await quickRequest();
    expect((await burning).toolCalls[0]).toMatchObject({ status: "succeeded" });
    return ms;
  }

  it("keeps other calls on the same executor as fast while a tool burns a core", async () => {
    await quickRequest(); // warm up
    const alone = [await quickRequest(), await quickRequest(), await quickRequest()].sort((a, b) => a - b)[1]!;
    const besideWorker = await quickBeside("fake:burnWorker");
    const besideInline = await quickBeside("fake:burnInline");
    console.info(
      `worker pool: quick request ${alone.toFixed(0)} ms alone, ${(besideWorker / alone).toFixed(2)}x beside a burn in the pool, ${(besideInline / alone).toFixed(2)}x beside the same burn on the executor's thread`,
    );
    expect(besideWorker / alone).toBeLessThan(2);
    // The same work on the actor's own thread holds everything up: the measure can tell.
    expect(besideInline / alone).toBeGreaterThan(2.5);
  });

  it("fails only the call that hangs past its timeout, that exhausts its memory, or that throws", async () => {
    const [hang, hog, throws, invalid] = await Promise.all(
      ["hang", "hog", "throws", "invalid"].map((model) => env.client.request({ prompt: "x", model: `fake:${model}` })),
    );
    expect(hang!.toolCalls[0]).toMatchObject({ status: "timeout", error: { code: "TIMEOUT" } });
    expect(hog!.toolCalls[0]).toMatchObject({ status: "failed", error: { code: "TOOL_FAILED" } });
    expect(hog!.toolCalls[0]?.error?.message).toContain("32 MB memory limit");
    expect(throws!.toolCalls[0]).toMatchObject({
      status: "failed",
      error: { code: "TOOL_FAILED", message: "worker tool failed on purpose" },
    });
    expect(invalid!.toolCalls[0]).toMatchObject({ status: "failed", error: { code: "INVALID_ARGUMENTS" } });
    // The pool still serves.
    const after = await env.client.request({ prompt: "x", model: "fake:burnWorker" });
    expect(after.toolCalls[0]).toMatchObject({ status: "succeeded", result: { burned: BURN_MS } });
  });

  it.each(["steps", "stepsInWorker"])(
    "streams partial results as tool.progress events before the result (%s)",
    async (model) => {
      const id = `progress-${model}-${Date.now()}`;
      const reply = await env.client.request({ id, prompt: "x", model: `fake:${model}` });
      expect(reply.toolCalls[0]).toMatchObject({ status: "succeeded", result: { steps: 3 } });
      const seen: unknown[] = [];
      for await (const event of env.client.events(id)) {
        if (event.type === EventType.toolProgress) seen.push([event.seq, event.partial]);
        if (event.type === EventType.toolCompleted) seen.push("completed");
      }
      expect(seen).toEqual([[1, { step: 1 }], [2, { step: 2 }], [3, { step: 3 }], "completed"]);
    },
  );
});
