import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnActors, waitForActors, type ActorProcesses } from "@toolformer/cli";
import { EventType, type OrchestrateEvent } from "@toolformer/protocol";
import { schedulerActor } from "@toolformer/scheduler";
import { EXAMPLE_TOOLS } from "@toolformer/tools";
import { countedSleep } from "../support/counted-sleep.ts";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

/** Runs of each call, counted where the tool runs (the executors are in this process). */
const { tool: counted, runs } = countedSleep();

/** Collects a request's events until `until` holds for one of them. */
async function eventsUntil(
  env: TestEnvironment,
  requestId: string,
  until: (event: OrchestrateEvent, seen: OrchestrateEvent[]) => boolean,
): Promise<OrchestrateEvent[]> {
  const seen: OrchestrateEvent[] = [];
  for await (const event of env.client.events(requestId)) {
    seen.push(event);
    if (until(event, seen)) break;
  }
  return seen;
}

describe("a scheduler stopped with SIGTERM in the middle of a round", () => {
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
                { id: "first", name: "counted_sleep", arguments: { ms: 4_000, value: "from first" } },
                { id: "second", name: "counted_sleep", arguments: { ms: 10, value: { $ref: "first#/value" } } },
                { id: "long", name: "counted_sleep", arguments: { ms: 14_000, value: "long" } },
              ],
            },
            { text: "survived" },
          ],
        },
      },
    });
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

  it("hands the round back at once; the next scheduler reads back what finished meanwhile and hands nothing out twice", async () => {
    const id = `shutdown-${Date.now()}`;
    const reply = env.client.request({
      id,
      prompt: "x",
      model: "fake:chain",
      options: { earlyDispatch: false, timeoutMs: 60_000 },
    });
    const started = (events: OrchestrateEvent[]) => events.filter((e) => e.type === EventType.toolStarted).length;
    await eventsUntil(env, id, (_event, seen) => started(seen) === 2);

    const [victim] = schedulers.running();
    const exit = await schedulers.signal(victim!, "SIGTERM", 25_000);
    console.info(`scheduler stop: exited ${exit.code ?? exit.signal} after ${exit.afterMs} ms`);
    expect(exit.forced).toBe(false);
    expect(exit.code).toBe(0);
    // Its round's calls run for seconds more; the scheduler does not wait for them.
    expect(exit.afterMs).toBeLessThan(10_000);

    // No scheduler holds the round while the first call finishes; then one starts and takes it over.
    await eventsUntil(env, id, (event) => event.type === EventType.toolCompleted && event.callId === "first");
    await env.stack.add(schedulerActor({ maxConcurrentRounds: 1000 }));

    const answered = await reply;
    expect(answered.status).toBe("completed");
    expect(answered.answer).toBe("survived");
    expect(answered.toolCalls.map((call) => [call.id, call.status, call.result])).toEqual([
      ["first", "succeeded", { value: "from first" }],
      ["second", "succeeded", { value: "from first" }],
      ["long", "succeeded", { value: "long" }],
    ]);
    expect(Object.fromEntries(runs)).toEqual({ first: 1, second: 1, long: 1 });
    // Each call was handed out once: the takeover announced and published none of them again.
    const events = await eventsUntil(env, id, (event) => event.type === EventType.requestCompleted);
    const scheduled = events.flatMap((e) => (e.type === EventType.toolScheduled ? [e.callId] : []));
    expect(scheduled.sort()).toEqual(["first", "long", "second"]);
  }, 60_000);
});
