import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import type { ToolCallRecord } from "@toolformer/protocol";
import { defineTool, EXAMPLE_TOOLS } from "@toolformer/tools";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

/** A tool with side effects (not idempotent): `hybrid` runs these one at a time, in order. */
const write = defineTool({
  name: "write_record",
  description: "Pretends to write something somewhere.",
  parameters: z.object({ ms: z.int().min(0) }),
  idempotent: false,
  async run({ ms }, ctx) {
    await sleep(ms, undefined, { signal: ctx.signal });
    return { written: true };
  },
});

const endOf = (call: ToolCallRecord) => call.startedAt! + call.durationMs;
const CALLS = [
  { id: "w1", name: "write_record", arguments: { ms: 150 } },
  { id: "r1", name: "sleep", arguments: { ms: 150 } },
  { id: "w2", name: "write_record", arguments: { ms: 150 } },
  { id: "r2", name: "sleep", arguments: { ms: 150 } },
];

describe("strategies on real NATS", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, write],
      waitForTools: ["sleep", "write_record"],
      scenarios: { mixed: { turns: [{ toolCalls: CALLS }, { text: "done" }] } },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  const run = async (strategy: "sequential" | "hybrid") => {
    const reply = await env.client.request({ prompt: "x", model: "fake:mixed", options: { strategy } });
    expect(reply.status).toBe("completed");
    expect(reply.toolCalls.every((call) => call.status === "succeeded")).toBe(true);
    return Object.fromEntries(reply.toolCalls.map((call) => [call.id, call]));
  };

  it("sequential: one at a time, in the model's order", async () => {
    const calls = await run("sequential");
    const order = ["w1", "r1", "w2", "r2"];
    for (let i = 1; i < order.length; i++) {
      expect(calls[order[i]!]!.startedAt!).toBeGreaterThanOrEqual(endOf(calls[order[i - 1]!]!));
    }
  });

  it("hybrid: idempotent calls at once, calls with side effects one at a time in order", async () => {
    const calls = await run("hybrid");
    const [w1, r1, w2, r2] = ["w1", "r1", "w2", "r2"].map((id) => calls[id]!);
    // The reads run beside the first write...
    expect(r1!.startedAt!).toBeLessThan(endOf(w1!));
    expect(r2!.startedAt!).toBeLessThan(endOf(w1!));
    // ...and the second write waits for the first.
    expect(w2!.startedAt!).toBeGreaterThanOrEqual(endOf(w1!));
  });
});
