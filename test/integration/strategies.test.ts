import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import type { ToolCallRecord } from "@toolformer/protocol";
import { defineTool, EXAMPLE_TOOLS } from "@toolformer/tools";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

/** Tools that change something, idempotent or not: `hybrid` runs their calls one at a time, in order. */
const writer = (name: string, description: string, idempotent: boolean) =>
  defineTool({
    name,
    description,
    parameters: z.object({ ms: z.int().min(0) }),
    idempotent,
    async run({ ms }, ctx) {
      await sleep(ms, undefined, { signal: ctx.signal });
      return { written: true };
    },
  });
const write = writer("write_record", "Pretends to append a record somewhere.", false);
const put = writer("put_record", "Pretends to overwrite a record (idempotent, not read-only).", true);

const endOf = (call: ToolCallRecord) => call.startedAt! + call.durationMs;
const CALLS = [
  { id: "w1", name: "write_record", arguments: { ms: 150 } },
  { id: "r1", name: "sleep", arguments: { ms: 150 } },
  { id: "w2", name: "put_record", arguments: { ms: 150 } },
  { id: "r2", name: "sleep", arguments: { ms: 150 } },
];

describe("strategies on real NATS", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, write, put],
      waitForTools: ["sleep", "write_record", "put_record"],
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

  it("hybrid: read-only calls at once, the others (idempotent or not) one at a time in order", async () => {
    const calls = await run("hybrid");
    const [w1, r1, w2, r2] = ["w1", "r1", "w2", "r2"].map((id) => calls[id]!);
    // The reads run beside the first write...
    expect(r1!.startedAt!).toBeLessThan(endOf(w1!));
    expect(r2!.startedAt!).toBeLessThan(endOf(w1!));
    // ...and the second write, though idempotent, waits for the first.
    expect(w2!.startedAt!).toBeGreaterThanOrEqual(endOf(w1!));
  });
});
