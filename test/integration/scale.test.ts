import { Svcm } from "@nats-io/services";
import { createInbox, headers } from "@nats-io/transport-node";
import {
  ContentType,
  decode,
  encode,
  EventType,
  PUBLIC_SUBJECTS,
  SERVICE_NAMES,
  type OrchestrateReply,
} from "@toolformer/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

const REQUESTS = 30;

describe("two copies of every actor", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      copies: { dispatcher: 2, scheduler: 2, rateLimiter: 2, speculation: 2, executor: 2 },
      waitForTools: ["sleep", "echo"],
      scenarios: {
        work: {
          turns: [
            { toolCalls: Array.from({ length: 4 }, (_, i) => ({ name: "sleep", arguments: { ms: 50, value: i } })) },
            { toolCalls: [{ name: "echo", arguments: { value: "second round" } }] },
            { text: "finished" },
          ],
        },
      },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it("answer every request exactly once and share the work", async () => {
    // Raw request/reply on our own inbox, so a second reply to the same request would be seen.
    const inbox = createInbox();
    const replies = new Map<string, OrchestrateReply[]>();
    const sub = env.client.nc.subscribe(inbox, {
      callback: (_error, msg) => {
        const reply = decode(msg.data, ContentType.json) as OrchestrateReply;
        replies.set(reply.id ?? "?", [...(replies.get(reply.id ?? "?") ?? []), reply]);
      },
    });
    const h = headers();
    h.set("Content-Type", ContentType.json);
    const ids = Array.from({ length: REQUESTS }, (_, i) => `scale-${Date.now()}-${i}`);
    for (const id of ids) {
      env.client.nc.publish(
        PUBLIC_SUBJECTS.request,
        encode({ id, prompt: "go", model: "fake:work" }, ContentType.json),
        { reply: inbox, headers: h },
      );
    }
    const giveUpAt = Date.now() + 20_000;
    while (replies.size < REQUESTS && Date.now() < giveUpAt) await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise((resolve) => setTimeout(resolve, 500)); // room for a duplicate to show up
    sub.unsubscribe();

    expect([...replies.keys()].sort()).toEqual([...ids].sort());
    for (const [id, list] of replies) {
      expect(list, id).toHaveLength(1);
      expect(list[0]).toMatchObject({ status: "completed", answer: "finished", rounds: 2 });
      expect(list[0]?.toolCalls).toHaveLength(5);
    }

    // Both executors ran calls...
    const executors = new Set<string>();
    for (const id of ids.slice(0, 10)) {
      for await (const event of env.client.events(id))
        if (event.type === EventType.toolStarted) executors.add(event.executor);
    }
    expect(executors.size).toBe(2);
    // ...and both dispatchers took requests (the service API counts per copy).
    const stats = [];
    for await (const s of await new Svcm(env.admin)
      .client({ strategy: "timer", maxWait: 500 })
      .stats(SERVICE_NAMES.dispatcher))
      stats.push(s);
    expect(stats).toHaveLength(2);
    for (const s of stats) expect(s.endpoints?.find((e) => e.name === "request")?.num_requests).toBeGreaterThan(0);
  });

  it("every actor copy answers the NATS service API", async () => {
    const names: string[] = [];
    for await (const identity of await new Svcm(env.admin).client({ strategy: "timer", maxWait: 500 }).ping())
      names.push(identity.name);
    for (const service of Object.values(SERVICE_NAMES))
      expect(
        names.filter((n) => n === service),
        service,
      ).toHaveLength(2);
  });
});
