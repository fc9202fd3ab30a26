import { Svcm } from "@nats-io/services";
import { connectionOptions } from "@toolformer/client";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnActors, waitForActors, type ActorProcesses } from "@toolformer/cli";
import { Header } from "@toolformer/protocol";
import { startEnvironment, waitForCatalog, type TestEnvironment } from "../support/environment.ts";

/**
 * A remote tool call whose executor loses its connection (its server dies) while the tool runs: the
 * reply is published while the executor is away and never arrives. The executor sends the call again
 * after the reconnect, with the same call id, and the tool answers the repeat from its record, as
 * docs/tools.md asks of a tool with side effects.
 */
describe("a remote tool call whose executor's server dies while it runs", () => {
  let env: TestEnvironment;
  let executors: ActorProcesses;
  let toolNc: NatsConnection;
  /** Runs of the side effect, and every call received, by call id. */
  const effects = new Map<string, number>();
  const received: string[] = [];
  const results = new Map<string, Promise<{ charged: number }>>();
  let running: (callId: string) => void = () => {};

  beforeAll(async () => {
    env = await startEnvironment({
      cluster: true,
      copies: { executor: 0 },
      waitForTools: [],
      scenarios: {
        charge: { turns: [{ toolCalls: [{ name: "charge_card", arguments: { cents: 250 } }] }, { text: "charged" }] },
        post: { turns: [{ toolCalls: [{ name: "post_entry", arguments: { cents: 90 } }] }, { text: "posted" }] },
      },
    });
    const nodes = env.cluster?.nodes ?? [];
    // The tool lives on the last node; the executor only knows the first, the one that will die.
    toolNc = await connect({
      ...connectionOptions(nodes[2]?.url ?? "", env.nats.credentials("tool-provider")),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    const service = await new Svcm(toolNc).add({ name: "payments", version: "1.0.0" });
    service.addEndpoint("charge_card", {
      subject: "payments.charge",
      metadata: { "toolformer.parameters": '{"type":"object"}', "toolformer.idempotent": "false" },
      handler: (_error, msg) => {
        const callId = msg.headers?.get(Header.callId) ?? "";
        received.push(callId);
        // The call id is the idempotency key: a repeat gets the first run's answer, the card is charged once.
        let result = results.get(callId);
        if (!result) {
          effects.set(callId, (effects.get(callId) ?? 0) + 1);
          running(callId);
          result = sleep(1_500).then(() => ({ charged: msg.json<{ cents: number }>().cents }));
          results.set(callId, result);
        }
        void result.then((value) => msg.respond(JSON.stringify(value)));
      },
    });
    // A call whose first request is lost on the way (as with a node that dies holding it): the first
    // receipt of each call id goes unanswered, a repeat is answered.
    service.addEndpoint("post_entry", {
      subject: "ledger.post",
      metadata: { "toolformer.parameters": '{"type":"object"}', "toolformer.idempotent": "false" },
      handler: (_error, msg) => {
        const callId = msg.headers?.get(Header.callId) ?? "";
        received.push(callId);
        if (received.filter((id) => id === callId).length === 1) return running(callId);
        msg.respond(JSON.stringify({ posted: msg.json<{ cents: number }>().cents }));
      },
    });
    executors = spawnActors(
      { executor: 1 },
      { ...process.env, NATS_URL: nodes[0]?.url ?? "", LOG_LEVEL: "error" },
      { output: "ignore", credentials: env.nats.credentials },
    );
    await waitForActors(env.natsUrl, { executor: 1 }, 20_000, env.nats.credentials("admin"));
    await waitForCatalog(env.client, ["charge_card", "post_entry"], 20_000);
  }, 90_000);
  afterAll(async () => {
    await executors?.stop();
    await toolNc?.close();
    await env?.[Symbol.asyncDispose]();
  });

  it("sends the call again after the reconnect, so the request completes at once, and the effect happens once", async () => {
    const started = new Promise<string>((resolve) => (running = resolve));
    const reply = env.client.request({
      id: `reconnect-${Date.now()}`,
      prompt: "charge",
      model: "fake:charge",
      options: { timeoutMs: 60_000 },
    });
    const callId = await started;
    await env.cluster?.killNode(0);
    const restarted = sleep(1_000).then(() => env.cluster?.startNode(0));

    const answered = await reply;
    await restarted;
    expect(answered.status).toBe("completed");
    expect(answered.toolCalls.map((call) => [call.status, call.result])).toEqual([["succeeded", { charged: 250 }]]);
    // Without the re-send the call would wait out the request's 60 s timeout: done well before that.
    expect(answered.timings.totalMs).toBeLessThan(30_000);
    expect(received.filter((id) => id === callId).length).toBeGreaterThanOrEqual(2);
    expect(effects.get(callId)).toBe(1);
  }, 90_000);

  it("sends a call again when a node of the cluster goes away, so a request lost with it costs seconds, not the timeout", async () => {
    const lost = new Promise<string>((resolve) => (running = resolve));
    const reply = env.client.request({
      id: `node-gone-${Date.now()}`,
      prompt: "post",
      model: "fake:post",
      options: { timeoutMs: 60_000 },
    });
    const callId = await lost;
    // Neither the executor's node nor the tool's: the executor hears of it from its server's INFO.
    await env.cluster?.killNode(1);
    const restarted = sleep(1_000).then(() => env.cluster?.startNode(1));

    const answered = await reply;
    await restarted;
    expect(answered.toolCalls.map((call) => [call.status, call.result])).toEqual([["succeeded", { posted: 90 }]]);
    expect(answered.timings.totalMs).toBeLessThan(30_000);
    expect(received.filter((id) => id === callId)).toHaveLength(2);
  }, 90_000);
});
