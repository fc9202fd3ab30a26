import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnActors, waitForActors, type ActorProcesses } from "@toolformer/cli";
import { EventType } from "@toolformer/protocol";
import { schedulerActor } from "@toolformer/scheduler";
import { EXAMPLE_TOOLS } from "@toolformer/tools";
import { countedSleep } from "../support/counted-sleep.ts";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

/** Runs of each call, counted where the tool runs (the executors are in this process). */
const { tool: counted, runs } = countedSleep();

describe("a scheduler killed in the middle of a request", () => {
  let env: TestEnvironment;
  let schedulers: ActorProcesses;
  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, counted],
      copies: { scheduler: 0 },
      waitForTools: ["counted_sleep"],
      scenarios: {
        chain: {
          turns: [
            {
              toolCalls: [
                { id: "first", name: "counted_sleep", arguments: { ms: 2_000, value: "from first" } },
                { id: "second", name: "counted_sleep", arguments: { ms: 10, value: { $ref: "first#/value" } } },
              ],
            },
            { text: "survived" },
          ],
        },
      },
    });
    // The scheduler that will be killed runs as its own process, so it can die without a goodbye.
    schedulers = spawnActors(
      { scheduler: 1 },
      { ...process.env, NATS_URL: env.natsUrl, LOG_LEVEL: "error" },
      { output: "ignore", credentials: env.nats.credentials },
    );
    await waitForActors(env.natsUrl, { scheduler: 1 }, 15_000, env.nats.credentials("admin"));
  });
  afterAll(async () => {
    await schedulers?.stop();
    await env?.[Symbol.asyncDispose]();
  });

  it("loses no request: another scheduler takes the round over, and nothing runs twice", async () => {
    const id = `failover-${Date.now()}`;
    const reply = env.client.request({ id, prompt: "x", model: "fake:chain", options: { earlyDispatch: false } });
    for await (const event of env.client.events(id)) if (event.type === EventType.toolStarted) break;
    const [victim] = schedulers.pids();
    process.kill(victim!.pid, "SIGKILL");
    await env.stack.add(schedulerActor({ maxConcurrentRounds: 1000 }));

    const answered = await reply;
    expect(answered.status).toBe("completed");
    expect(answered.answer).toBe("survived");
    expect(answered.toolCalls.map((call) => [call.id, call.status, call.result])).toEqual([
      ["first", "succeeded", { value: "from first" }],
      ["second", "succeeded", { value: "from first" }],
    ]);
    expect(Object.fromEntries(runs)).toEqual({ first: 1, second: 1 });
  }, 30_000);
});
