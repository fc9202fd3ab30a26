import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ToolformerClient } from "@toolformer/client";
import { eventsSubject, EventType, INTERNAL_SUBJECTS, STREAMS } from "@toolformer/protocol";
import { defineTool, EXAMPLE_TOOLS } from "@toolformer/tools";
import { startCuttableProxy, type CuttableProxy } from "../support/cuttable-proxy.ts";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

/**
 * A reply is a core NATS message to the client's inbox: one sent while the client's connection is down
 * is lost. The client learns nothing of it but that its connection came back, and sends the request
 * again then (same id): the orchestrator answers a known id with the reply it stored, running nothing again.
 */
describe("a reply sent while the client's connection is down", () => {
  let env: TestEnvironment;
  let proxy: CuttableProxy;
  let nc: NatsConnection;
  let runs = 0;
  const nap = defineTool({
    name: "nap",
    description: "Rests a moment (runs counted by the test).",
    parameters: z.object({ ms: z.int().min(0) }),
    idempotent: false,
    async run({ ms }) {
      runs++;
      await sleep(ms);
      return { rested: true };
    },
  });

  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, nap],
      waitForTools: ["nap"],
      scenarios: { nap: { turns: [{ toolCalls: [{ name: "nap", arguments: { ms: 200 } }] }, { text: "rested" }] } },
    });
    proxy = await startCuttableProxy(env.natsUrl);
    nc = await env.nats.connect("client", { servers: proxy.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  });
  afterAll(async () => {
    await nc?.close();
    await proxy?.[Symbol.asyncDispose]();
    await env?.[Symbol.asyncDispose]();
  });

  it("reaches the client all the same: it sends the request again as it reconnects, and nothing runs twice", async () => {
    const client = new ToolformerClient(nc);
    const id = `reconnect-${Date.now()}`;
    const modelTurnsBefore = env.fake.received.length;
    // The test watches with the admin's own connection: the call starting (the client is cut off then)
    // and the request completing (its reply is sent right after the event, to the cut-off client).
    const events = env.admin.subscribe(eventsSubject(id));
    const completed = (async () => {
      for await (const msg of events) {
        const { type } = msg.json<{ type?: string }>();
        if (type === EventType.toolStarted) proxy.cut();
        if (type === EventType.requestCompleted) return;
      }
    })();

    const replying = client.request({ id, prompt: "nap", model: "fake:nap", options: { timeoutMs: 8_000 } });
    await completed;
    events.unsubscribe();
    // The dispatcher acks the request's queued run right after it sent the reply: once the run has left
    // its work queue, the reply has gone out (to nobody).
    const jsm = await jetstreamManager(env.admin);
    await vi.waitFor(
      async () =>
        expect(
          await jsm.streams.getMessage(STREAMS.requests.name, { last_by_subj: INTERNAL_SUBJECTS.requestRun(id) }),
        ).toBeNull(),
      { timeout: 10_000, interval: 50 },
    );
    expect(nc.isClosed()).toBe(false);
    // The reply went out while the client was cut off, and is lost. Let the client back in.
    proxy.restore();
    const reply = await replying;

    expect(reply.status).toBe("completed");
    expect(reply.answer).toBe("rested");
    expect(runs).toBe(1);
    expect(env.fake.received.length - modelTurnsBefore).toBe(2);
  }, 30_000);
});
