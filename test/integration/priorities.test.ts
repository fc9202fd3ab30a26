import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import type { ToolCallRecord } from "@toolformer/protocol";
import { defineTool, EXAMPLE_TOOLS } from "@toolformer/tools";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";
import { mostAtOnce } from "../support/most-at-once.ts";

/** Starts of the capped tool, by label, in order, as the executors (in this process) saw them. */
const starts: { label: string; at: number }[] = [];
const ends: { label: string; at: number }[] = [];
const single = defineTool({
  name: "single_lane",
  description: "One call at a time in the whole cluster.",
  parameters: z.object({ label: z.string(), ms: z.int().min(0) }),
  idempotent: true,
  maxConcurrency: 1,
  async run({ label, ms }, ctx) {
    starts.push({ label, at: Date.now() });
    await sleep(ms, undefined, { signal: ctx.signal });
    ends.push({ label, at: Date.now() });
    return label;
  },
});

const ALL_CALLS_CAP = 3;
const calls = (prefix: string, count: number, ms: number) =>
  Array.from({ length: count }, (_, i) => ({ name: "single_lane", arguments: { label: `${prefix}${i}`, ms } }));
const order = (prefix: string) => starts.filter((s) => s.label.startsWith(prefix)).map((s) => starts.indexOf(s));

const span = (call: ToolCallRecord) => ({ start: call.startedAt!, end: call.startedAt! + call.durationMs });

describe("priorities, aging, tenants and concurrency caps under a backlog", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, single],
      copies: { executor: 2 },
      maxConcurrentCalls: ALL_CALLS_CAP,
      waitForTools: ["single_lane", "sleep"],
      scenarios: {
        blocker: { turns: [{ toolCalls: calls("block", 1, 1_200) }, { text: "done" }] },
        low: { turns: [{ toolCalls: calls("low", 4, 30) }, { text: "done" }] },
        high: { turns: [{ toolCalls: calls("high", 4, 30) }, { text: "done" }] },
        patient: { turns: [{ toolCalls: calls("patient", 1, 10) }, { text: "done" }] },
        fresh: { turns: [{ toolCalls: calls("fresh", 1, 100) }, { text: "done" }] },
        tenantA: { turns: [{ toolCalls: calls("A", 16, 40) }, { text: "done" }] },
        tenantB: { turns: [{ toolCalls: calls("B", 3, 40) }, { text: "done" }] },
        wide: {
          turns: [
            { toolCalls: Array.from({ length: 10 }, () => ({ name: "sleep", arguments: { ms: 150 } })) },
            { text: "done" },
          ],
        },
      },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  /** Occupies the single lane, then queues the given requests behind it in the order given. */
  async function behindABlocker(requests: { model: string; priority?: number; tenant?: string }[]) {
    starts.length = 0;
    ends.length = 0;
    const replies = [env.client.request({ prompt: "x", model: "fake:blocker" })];
    while (starts.length === 0) await sleep(5);
    for (const { model, priority, tenant } of requests) {
      replies.push(
        env.client.request({
          prompt: "x",
          model,
          options: { ...(priority === undefined ? {} : { priority }), ...(tenant ? { tenant } : {}) },
        }),
      );
      await sleep(150); // each request's calls are waiting at the limiter before the next arrives
    }
    const answered = await Promise.all(replies);
    for (const reply of answered) expect(reply.status).toBe("completed");
    return answered;
  }

  it("runs higher priority first, one call at a time across two executors", async () => {
    const replies = await behindABlocker([
      { model: "fake:low", priority: 1 },
      { model: "fake:high", priority: 8 },
    ]);
    expect(Math.max(...order("high"))).toBeLessThan(Math.min(...order("low")));
    expect(mostAtOnce(replies.flatMap((reply) => reply.toolCalls.map(span)))).toBe(1);
  });

  it("ages waiting calls, so low priority is not starved by a stream of higher priority", async () => {
    starts.length = 0;
    const replies = [env.client.request({ prompt: "x", model: "fake:blocker" })];
    while (starts.length === 0) await sleep(5);
    replies.push(env.client.request({ prompt: "x", model: "fake:patient", options: { priority: 3 } }));
    // Fresh higher-priority work keeps arriving about as fast as the lane serves it, for 3.5 s.
    for (const until = Date.now() + 3_500; Date.now() < until; await sleep(90))
      replies.push(env.client.request({ prompt: "x", model: "fake:fresh", options: { priority: 5 } }));
    for (const reply of await Promise.all(replies)) expect(reply.status).toBe("completed");
    // Two levels behind and one level a second of waiting: it overtakes fresh arrivals after about
    // two seconds, long before the stream dries up...
    const patient = order("patient")[0]!;
    const fresh = order("fresh");
    expect(fresh.filter((index) => index > patient).length).toBeGreaterThanOrEqual(8);
    // ...but not before the higher priority had its turns.
    expect(fresh.filter((index) => index < patient).length).toBeGreaterThanOrEqual(5);
  });

  it("gives a quiet tenant its turns while another floods the same tool", async () => {
    await behindABlocker([
      { model: "fake:tenantA", tenant: "loud" },
      { model: "fake:tenantB", tenant: "quiet" },
    ]);
    // Turns alternate between tenants: the quiet tenant's three calls are among the first seven.
    for (const index of order("B")) expect(index).toBeLessThanOrEqual(7);
  });

  it("never runs more calls at once than the cluster-wide cap", async () => {
    const reply = await env.client.request({ prompt: "x", model: "fake:wide", options: { maxParallel: 10 } });
    expect(reply.status).toBe("completed");
    expect(mostAtOnce(reply.toolCalls.map(span))).toBe(ALL_CALLS_CAP);
  });
});
