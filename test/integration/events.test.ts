import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventType, type OrchestrateEvent } from "@toolformer/protocol";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

describe("orchestrate.events.<id>", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      waitForTools: ["sleep", "get_weather", "calculator"],
      scenarios: {
        tworounds: {
          turns: [
            {
              toolCalls: [
                { name: "sleep", arguments: { ms: 30 } },
                { name: "get_weather", arguments: { city: "Oslo" } },
              ],
            },
            { toolCalls: [{ name: "calculator", arguments: { expression: "2*3" } }] },
            { text: "done" },
          ],
        },
      },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it("arrive in causal order, live and for a late subscriber alike", async () => {
    const id = `events-${Date.now()}`;
    const live: OrchestrateEvent[] = [];
    const watching = (async () => {
      for await (const event of env.client.events(id)) live.push(event);
    })();
    const reply = await env.client.request({ id, prompt: "x", model: "fake:tworounds" });
    expect(reply.status).toBe("completed");
    await watching;

    const late: OrchestrateEvent[] = [];
    for await (const event of env.client.events(id)) late.push(event);
    expect(late).toEqual(live);

    const types = live.map((e) => e.type);
    expect(types[0]).toBe(EventType.requestAccepted);
    expect(types.at(-1)).toBe(EventType.requestCompleted);
    expect(live.every((e) => e.requestId === id)).toBe(true);
    for (const call of reply.toolCalls) {
      const position = (type: string) =>
        live.findIndex((e) => e.type === type && "callId" in e && e.callId === call.id);
      expect(position(EventType.toolScheduled)).toBeGreaterThan(0);
      expect(position(EventType.toolStarted)).toBeGreaterThan(position(EventType.toolScheduled));
      expect(position(EventType.toolCompleted)).toBeGreaterThan(position(EventType.toolStarted));
    }
    // Round 2's calls are scheduled only after round 1's completed.
    const lastRound1 = Math.max(
      ...live.flatMap((e, i) => (e.type === EventType.toolCompleted && e.round === 1 ? [i] : [])),
    );
    const firstRound2 = live.findIndex((e) => e.type === EventType.toolScheduled && e.round === 2);
    expect(firstRound2).toBeGreaterThan(lastRound1);
    // Calls running side by side are not ordered against each other; each call's own events are.
    for (const call of reply.toolCalls) {
      const times = live.flatMap((e) => ("callId" in e && e.callId === call.id ? [e.at] : []));
      expect([...times].sort((a, b) => a - b)).toEqual(times);
    }
  });

  it("each carries its type in the Toolformer-Event-Type header too, as a plain NATS subscriber sees it", async () => {
    const id = `events-header-${Date.now()}`;
    const seen: { header: string; type: string }[] = [];
    let completed: () => void;
    const done = new Promise<void>((resolve) => (completed = resolve));
    const sub = env.admin.subscribe(`orchestrate.events.${id}`, {
      callback: (_error, msg) => {
        const { type } = JSON.parse(msg.string()) as { type: string };
        seen.push({ header: msg.headers?.get("Toolformer-Event-Type") ?? "", type });
        if (type === EventType.requestCompleted) completed();
      },
    });
    await env.admin.flush();
    const reply = await env.client.request({ id, prompt: "x", model: "fake:tworounds" });
    expect(reply.status).toBe("completed");
    await done;
    sub.unsubscribe();
    expect(seen.length).toBeGreaterThan(5);
    expect(seen.map((e) => e.header)).toEqual(seen.map((e) => e.type));
  });
});
