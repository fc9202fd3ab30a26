import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventType } from "@toolformer/protocol";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

describe("cancel and timeout", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      waitForTools: ["sleep", "echo"],
      scenarios: {
        slow: {
          turns: [
            {
              toolCalls: [
                { name: "sleep", arguments: { ms: 50, value: "quick" } },
                ...Array.from({ length: 4 }, () => ({ name: "sleep", arguments: { ms: 20_000 } })),
              ],
            },
            { text: "never reached" },
          ],
        },
        race: {
          turns: [
            {
              toolCalls: [
                { id: "fast", name: "sleep", arguments: { ms: 100, value: "won" } },
                { id: "slow1", name: "sleep", arguments: { ms: 20_000 } },
                { id: "slow2", name: "sleep", arguments: { ms: 20_000 } },
                { id: "queued", name: "sleep", arguments: { ms: 20_000 } },
                { id: "other", name: "echo", arguments: { value: "not in the group" } },
              ],
            },
            { text: "raced" },
          ],
        },
      },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it("cancels promptly: in-flight tools are aborted and the reply says cancelled", async () => {
    const id = `cancel-${Date.now()}`;
    const pending = env.client.request({ id, prompt: "x", model: "fake:slow", options: { maxParallel: 3 } });
    // Wait until the slow calls are really running, then cancel.
    let started = 0;
    for await (const event of env.client.events(id)) {
      if (event.type === EventType.toolStarted) started++;
      if (started === 3) break;
    }
    const cancelledAt = Date.now();
    await env.client.cancel(id);
    const reply = await pending;
    expect(Date.now() - cancelledAt).toBeLessThan(2_000);
    expect(reply.status).toBe("cancelled");
    expect(reply.error?.code).toBe("CANCELLED");
    const statuses = reply.toolCalls.map((c) => c.status);
    expect(statuses.filter((s) => s === "succeeded").length).toBeLessThanOrEqual(1);
    expect(statuses.filter((s) => s === "cancelled").length).toBeGreaterThanOrEqual(4);
    // The two calls still queued behind maxParallel never started.
    expect(reply.toolCalls.filter((c) => c.startedAt === null).length).toBeGreaterThanOrEqual(1);

    const events = [];
    for await (const event of env.client.events(id)) events.push(event);
    expect(events.filter((e) => e.type === EventType.toolCancelled).length).toBeGreaterThanOrEqual(4);
    expect(events.at(-1)).toMatchObject({ type: EventType.requestCompleted, status: "cancelled" });
  });

  it("times out promptly with what finished", async () => {
    const started = Date.now();
    const reply = await env.client.request({ prompt: "x", model: "fake:slow", options: { timeoutMs: 600 } });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(reply.status).toBe("timeout");
    expect(reply.error?.code).toBe("TIMEOUT");
    const quick = reply.toolCalls.find((c) => (c.args as { ms: number }).ms === 50);
    expect(quick).toMatchObject({ status: "succeeded", result: { sleptMs: 50, value: "quick" } });
    expect(reply.toolCalls.filter((c) => c.status === "timeout")).toHaveLength(4);
  });

  it("ignores a cancel for a request that already finished", async () => {
    const reply = await env.client.request({ id: `done-${Date.now()}`, prompt: "x", model: "fake:echo" });
    await env.client.cancel(reply.id ?? "");
    const again = await env.client.request({ id: reply.id, prompt: "x", model: "fake:echo" });
    expect(again).toEqual(reply);
  });

  it("races: the first call of a group to succeed cancels the running ones and drops the queued ones", async () => {
    const started = Date.now();
    const reply = await env.client.request({
      prompt: "x",
      model: "fake:race",
      options: { maxParallel: 3, race: { fastest: ["sleep"] } },
    });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(reply.status).toBe("completed");
    const byId = Object.fromEntries(reply.toolCalls.map((call) => [call.id, call]));
    expect(byId.fast).toMatchObject({ status: "succeeded", result: { value: "won" } });
    expect(byId.other).toMatchObject({ status: "succeeded" });
    for (const id of ["slow1", "slow2"]) {
      expect(byId[id]).toMatchObject({ status: "cancelled", error: { code: "CANCELLED" } });
      expect(byId[id]!.startedAt).not.toBeNull();
      expect(byId[id]!.durationMs).toBeLessThan(2_000);
    }
    expect(byId.queued).toMatchObject({ status: "cancelled", startedAt: null });
    expect(byId.queued!.error!.message).toContain("race group");
  });
});
