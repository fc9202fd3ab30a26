import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

const TOOL_MS = 400;
const CALLS = 8;
/** More than the old default cap of 16, so a cap nobody asked for would show as a second wave. */
const WIDE_CALLS = 32;
/** Long enough that starting every call, on a busy machine, takes less than one call runs. */
const WIDE_TOOL_MS = 1_000;

describe("a request with parallel tool calls", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      waitForTools: ["sleep", "get_weather", "calculator"],
      scenarios: {
        fanout: {
          turns: [
            {
              toolCalls: Array.from({ length: CALLS }, (_, i) => ({
                name: "sleep",
                arguments: { ms: TOOL_MS, value: i },
              })),
            },
            { text: "all done" },
          ],
        },
        wide: {
          turns: [
            {
              toolCalls: Array.from({ length: WIDE_CALLS }, (_, i) => ({
                name: "sleep",
                arguments: { ms: WIDE_TOOL_MS, value: i },
              })),
            },
            { text: "wide done" },
          ],
        },
      },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it(`runs ${CALLS} calls of a ${TOOL_MS} ms tool in well under twice one call`, async () => {
    const reply = await env.client.request({ prompt: "sleep a lot", model: "fake:fanout" });
    expect(reply.status).toBe("completed");
    expect(reply.answer).toBe("all done");
    expect(reply.toolCalls).toHaveLength(CALLS);
    expect(reply.toolCalls.every((c) => c.status === "succeeded")).toBe(true);
    expect(reply.toolCalls.map((c) => (c.result as { value: number }).value).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // Run one after another they would take 8 x 400 ms. Together: there is an instant when all eight
    // are running, and from the first start to the last end is under twice one call.
    const starts = reply.toolCalls.map((c) => c.startedAt ?? Number.NaN);
    const ends = reply.toolCalls.map((c) => (c.startedAt ?? Number.NaN) + c.durationMs);
    expect(Math.max(...starts)).toBeLessThan(Math.min(...ends));
    expect(Math.max(...ends) - Math.min(...starts)).toBeLessThan(2 * TOOL_MS);
  });

  it(`starts all ${WIDE_CALLS} calls of a turn together when the request sets no maxParallel`, async () => {
    const reply = await env.client.request({ prompt: "sleep wide", model: "fake:wide" });
    expect(reply.status).toBe("completed");
    expect(reply.toolCalls).toHaveLength(WIDE_CALLS);
    expect(reply.toolCalls.every((c) => c.status === "succeeded")).toBe(true);
    // In waves, the calls of the second would start only once the first wave's ended.
    const starts = reply.toolCalls.map((c) => c.startedAt ?? Number.NaN);
    const ends = reply.toolCalls.map((c) => (c.startedAt ?? Number.NaN) + c.durationMs);
    expect(Math.max(...starts)).toBeLessThan(Math.min(...ends));
  });

  it("answers the demo request with the example tools and quotes their results", async () => {
    const reply = await env.client.request({ prompt: "weather and maths", model: "fake:demo" });
    expect(reply.status).toBe("completed");
    expect(reply.rounds).toBe(1);
    expect(reply.toolCalls.map((c) => c.tool).sort()).toEqual(["calculator", "get_weather", "get_weather"]);
    expect(reply.toolCalls.find((c) => c.tool === "calculator")?.result).toEqual({ expression: "21*2", value: 42 });
    expect(reply.answer).toContain("42");
    expect(reply.usage?.totalTokens).toBeGreaterThan(0);
    // Two model turns (the calls, then the answer), each with its own usage, adding up to the total.
    expect(reply.usage?.rounds?.map((r) => r.round)).toEqual([1, 2]);
    const summed = (reply.usage?.rounds ?? []).reduce((sum, r) => sum + r.inputTokens + r.outputTokens, 0);
    expect(summed).toBe(reply.usage?.totalTokens);
  });

  it("lists the tools with their JSON Schemas on orchestrate.tools", async () => {
    const { tools } = await env.client.tools();
    const sleep = tools.find((t) => t.name === "sleep");
    expect(sleep).toMatchObject({
      readOnly: true,
      idempotent: true,
      source: "typescript",
      parameters: { type: "object" },
    });
    expect(Object.keys((sleep?.parameters as { properties: object }).properties)).toContain("ms");
  });
});
