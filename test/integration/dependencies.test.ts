import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { EventType, type ToolCallRecord } from "@toolformer/protocol";
import type { Turn } from "@toolformer/fake-llm";
import { criticalPathMs, planToolCalls, randomDag } from "@toolformer/testing";
import { defineTool, EXAMPLE_TOOLS } from "@toolformer/tools";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

/** A tool that gives up after 100 ms, whatever it was asked to wait. */
const capped = defineTool({
  name: "capped_sleep",
  description: "Sleeps, with a 100 ms timeout.",
  parameters: z.object({ ms: z.int().min(0) }),
  idempotent: true,
  timeoutMs: 100,
  async run({ ms }, ctx) {
    await sleep(ms, undefined, { signal: ctx.signal });
    return { sleptMs: ms };
  },
});

const ref = (target: string) => ({ $ref: target });
const endOf = (call: ToolCallRecord) => call.startedAt! + call.durationMs;
/** A scenario whose first turn is a plan of calls, and whose next is the answer. */
const plan = (toolCalls: Turn["toolCalls"], answer = "done") => ({ turns: [{ toolCalls }, { text: answer }] });

/** 20 nodes of 60-180 ms, each naming up to two earlier ones. */
const dag = randomDag(42, 20, 60, 180);
const dagCriticalPathMs = criticalPathMs(dag);

describe("dependency graphs between tool calls", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, capped],
      waitForTools: ["sleep", "echo", "capped_sleep"],
      scenarios: {
        diamond: plan([
          { id: "A", name: "sleep", arguments: { ms: 150, value: { n: 1 } } },
          { id: "B", name: "sleep", arguments: { ms: 300, value: ref("A#/value/n") } },
          { id: "C", name: "sleep", arguments: { ms: 300, value: ref("A#/value") } },
          { id: "D", name: "echo", arguments: { value: [ref("B#/value"), ref("C#/value")] } },
        ]),
        dag: plan(planToolCalls(dag)),
        cycle: plan(
          [
            { id: "free", name: "echo", arguments: { value: 1 } },
            { id: "x", name: "echo", arguments: { value: ref("y") } },
            { id: "y", name: "echo", arguments: { value: ref("x") } },
          ],
          "never reached",
        ),
        dangling: plan(
          [
            { id: "real", name: "echo", arguments: { value: 1 } },
            { id: "lost", name: "echo", arguments: { value: ref("ghost") } },
          ],
          "never reached",
        ),
        timeout: plan(
          [
            { id: "slow", name: "capped_sleep", arguments: { ms: 5_000 } },
            { id: "after", name: "echo", arguments: { value: ref("slow") } },
            { id: "later", name: "echo", arguments: { value: ref("after") } },
          ],
          "told",
        ),
      },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it("runs a diamond: B and C together after A, D after both, with the results passed along", async () => {
    const reply = await env.client.request({ prompt: "x", model: "fake:diamond" });
    expect(reply.status).toBe("completed");
    const [a, b, c, d] = ["A", "B", "C", "D"].map((id) => reply.toolCalls.find((call) => call.id === id)!);
    expect(reply.toolCalls.every((call) => call.status === "succeeded")).toBe(true);
    expect(b!.startedAt!).toBeGreaterThanOrEqual(endOf(a!));
    expect(c!.startedAt!).toBeGreaterThanOrEqual(endOf(a!));
    // Together: each started before the other ended.
    expect(b!.startedAt!).toBeLessThan(endOf(c!));
    expect(c!.startedAt!).toBeLessThan(endOf(b!));
    expect(d!.startedAt!).toBeGreaterThanOrEqual(Math.max(endOf(b!), endOf(c!)));
    expect(b!.args).toEqual({ ms: 300, value: 1 });
    expect(d!.result).toEqual([1, { n: 1 }]);
  });

  it("finishes a 20-node DAG within its critical path plus a small overhead", async () => {
    const reply = await env.client.request({ prompt: "x", model: "fake:dag", options: { maxParallel: 20 } });
    expect(reply.status).toBe("completed");
    const byId = new Map(reply.toolCalls.map((call) => [call.id, call]));
    for (const node of dag) {
      const call = byId.get(node.id)!;
      expect(call.status).toBe("succeeded");
      for (const dep of node.deps) expect(call.startedAt!).toBeGreaterThanOrEqual(endOf(byId.get(dep)!));
    }
    const overheadMs = reply.timings.toolsMs - dagCriticalPathMs;
    console.info(
      `DAG: critical path ${dagCriticalPathMs} ms, tools phase ${reply.timings.toolsMs} ms (${(reply.timings.toolsMs / dagCriticalPathMs).toFixed(2)}x)`,
    );
    expect(overheadMs).toBeGreaterThanOrEqual(0);
    // Depth of the DAG is at most 20 hops; a few ms each plus the round's hand-offs, on a busy machine.
    expect(overheadMs).toBeLessThan(600);
  });

  const plans = [
    ["cycle", "CYCLE_DETECTED", "x -> y -> x", ["x", "y"]],
    ["dangling", "INVALID_REQUEST", "lost -> ghost", ["lost"]],
  ] as const;

  it.each(plans)("rejects a plan with a %s before any tool runs, naming the calls", async (scenario, code, named) => {
    const id = `plan-${scenario}-${Date.now()}`;
    const reply = await env.client.request({
      id,
      prompt: "x",
      model: `fake:${scenario}`,
      options: { earlyDispatch: false },
    });
    expect(reply.status).toBe("failed");
    expect(reply.error?.code).toBe(code);
    expect(reply.error?.message).toContain(named);
    expect(reply.toolCalls.length).toBeGreaterThan(0);
    expect(reply.toolCalls.every((call) => call.startedAt === null && call.error?.code === code)).toBe(true);
    const events = [];
    for await (const event of env.client.events(id)) events.push(event.type);
    expect(events).not.toContain(EventType.toolStarted);
  });

  it.each(plans)(
    "with early dispatch, never runs the calls of a %s, and fails the request",
    async (scenario, code, _named, broken) => {
      const reply = await env.client.request({ prompt: "x", model: `fake:${scenario}` });
      expect(reply.status).toBe("failed");
      expect(reply.error?.code).toBe(code);
      for (const id of broken) expect(reply.toolCalls.find((call) => call.id === id)?.startedAt).toBeNull();
    },
  );

  it("fails the dependents of a call that timed out, and tells the model", async () => {
    const reply = await env.client.request({ prompt: "x", model: "fake:timeout" });
    expect(reply.status).toBe("completed");
    expect(reply.answer).toBe("told");
    const status = Object.fromEntries(reply.toolCalls.map((call) => [call.id, [call.status, call.error?.code]]));
    expect(status).toEqual({
      slow: ["timeout", "TIMEOUT"],
      after: ["failed", "DEPENDENCY_FAILED"],
      later: ["failed", "DEPENDENCY_FAILED"],
    });
    const told = env.fake.received.filter((r) => r.scenario === "timeout").at(-1)!;
    expect(JSON.stringify(told.conversation.messages)).toContain("DEPENDENCY_FAILED");
  });
});
