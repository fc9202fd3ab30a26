import { Svcm, type Service } from "@nats-io/services";
import { type NatsConnection } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import { EventType } from "@toolformer/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEnvironment, waitForCatalog, type TestEnvironment } from "../support/environment.ts";

/** Delivery delay between a permit and the call reaching the service, allowed on a busy machine. */
const DELIVERY_JITTER_MS = 100;

describe("remote tools served by a plain NATS micro service", () => {
  let env: TestEnvironment;
  let nc: NatsConnection;
  let service: Service;
  const seenHeaders: Record<string, string>[] = [];
  const limitedStarts: number[] = [];
  const hangingCalls: string[] = [];

  beforeAll(async () => {
    env = await startEnvironment({
      scenarios: {
        stocks: {
          turns: [
            {
              toolCalls: [
                { name: "lookup_stock", arguments: { symbol: "ACME" } },
                { name: "explode", arguments: {} },
              ],
            },
            { text: "looked up" },
          ],
        },
        tooSlow: { turns: [{ toolCalls: [{ name: "too_slow", arguments: {} }] }, { text: "ok" }] },
        badStock: { turns: [{ toolCalls: [{ name: "lookup_stock", arguments: { symbol: 42 } }] }, { text: "ok" }] },
        hanging: { turns: [{ toolCalls: [{ name: "hang", arguments: {} }] }, { text: "never" }] },
        quote: { turns: [{ toolCalls: [{ name: "steady_quote", arguments: {} }] }, { text: "quoted" }] },
        limited: {
          turns: [
            { toolCalls: Array.from({ length: 6 }, (_, i) => ({ name: "limited_api", arguments: { n: i } })) },
            { text: "ok" },
          ],
        },
      },
    });
    // The service is written the way any team would, in any language: only the services API and metadata.
    nc = await env.nats.connect("tool-provider");
    service = await new Svcm(nc).add({ name: "market-data", version: "1.0.0" });
    service.addEndpoint("lookup_stock", {
      subject: "market.lookup",
      metadata: {
        "toolformer.parameters": JSON.stringify({
          type: "object",
          properties: { symbol: { type: "string" } },
          required: ["symbol"],
        }),
        "toolformer.description": "Latest price of a stock symbol",
        "toolformer.read_only": "true",
      },
      handler: (_error, msg) => {
        seenHeaders.push(
          Object.fromEntries([...(msg.headers?.keys() ?? [])].map((k) => [k, msg.headers?.get(k) ?? ""])),
        );
        const { symbol } = msg.json<{ symbol: string }>();
        msg.respond(JSON.stringify({ symbol, price: 123.45 }));
      },
    });
    service.addEndpoint("explode", {
      subject: "market.explode",
      metadata: { "toolformer.parameters": '{"type":"object"}' },
      handler: (_error, msg) => msg.respondError(503, "market closed"),
    });
    service.addEndpoint("limited_api", {
      subject: "market.limited",
      metadata: {
        "toolformer.parameters": '{"type":"object"}',
        "toolformer.rate_limit": '{"limit":2,"intervalMs":500}',
      },
      handler: (_error, msg) => {
        limitedStarts.push(Date.now());
        msg.respond(JSON.stringify({ ok: true }));
      },
    });
    // Never answers on its own: it waits to be told the call was abandoned.
    service.addEndpoint("hang", {
      subject: "market.hang",
      metadata: { "toolformer.parameters": '{"type":"object"}' },
      handler: (_error, msg) => void hangingCalls.push(msg.headers?.get("Toolformer-Call-Id") ?? ""),
    });
    // Answers too late for its own 300 ms timeout.
    service.addEndpoint("too_slow", {
      subject: "market.slow",
      metadata: { "toolformer.parameters": '{"type":"object"}', "toolformer.timeout_ms": "300" },
      handler: (_error, msg) => void setTimeout(() => msg.respond("{}"), 3_000),
    });
    await waitForCatalog(env.client, ["lookup_stock", "explode", "limited_api", "hang", "too_slow"]);
  });
  afterAll(async () => {
    await service?.stop();
    await nc?.close();
    await env?.[Symbol.asyncDispose]();
  });

  it("is discovered with its metadata and offered in orchestrate.tools", async () => {
    const { tools } = await env.client.tools();
    expect(tools.find((t) => t.name === "lookup_stock")).toMatchObject({
      source: "remote",
      description: "Latest price of a stock symbol",
      readOnly: true, // and so idempotent, without saying
      idempotent: true,
      parameters: { required: ["symbol"] },
    });
  });

  it("is called with the documented headers, and its service error fails only that call", async () => {
    const reply = await env.client.request({ id: `stocks-${Date.now()}`, prompt: "price?", model: "fake:stocks" });
    expect(reply.status).toBe("completed");
    const byTool = Object.fromEntries(reply.toolCalls.map((c) => [c.tool, c]));
    expect(byTool.lookup_stock).toMatchObject({ status: "succeeded", result: { symbol: "ACME", price: 123.45 } });
    expect(byTool.explode).toMatchObject({ status: "failed", error: { code: "TOOL_FAILED" } });
    expect(byTool.explode?.error?.message).toContain("market closed");
    const headers = seenHeaders.at(-1) ?? {};
    expect(headers["Toolformer-Request-Id"]).toBe(reply.id);
    expect(headers["Toolformer-Call-Id"]).toBe(byTool.lookup_stock?.id);
    expect(headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  });

  it("never starts more calls than its rate_limit metadata allows in any window", async () => {
    const reply = await env.client.request({ prompt: "burst", model: "fake:limited" });
    expect(reply.status).toBe("completed");
    expect(reply.toolCalls.every((c) => c.status === "succeeded")).toBe(true);
    expect(limitedStarts).toHaveLength(6);
    // The limiter holds the window at grant time; arrival here adds delivery jitter, which on a loaded
    // two-core machine reaches tens of milliseconds, so the window seen here is shortened by that much.
    for (const start of limitedStarts) {
      expect(
        limitedStarts.filter((t) => t >= start && t < start + 500 - DELIVERY_JITTER_MS).length,
      ).toBeLessThanOrEqual(2);
    }
  });

  it("times a call out after its toolformer.timeout_ms and tells the service why", async () => {
    const heard: unknown[] = [];
    const listening = nc.subscribe("orchestrate.call.cancel.too_slow", {
      callback: (_error, msg) => void heard.push(msg.json()),
    });
    const reply = await env.client.request({ prompt: "x", model: "fake:tooSlow" });
    expect(reply.toolCalls[0]).toMatchObject({ status: "timeout", error: { code: "TIMEOUT" } });
    expect(reply.toolCalls[0]!.durationMs).toBeLessThan(1_500);
    for (const giveUpAt = Date.now() + 3_000; heard.length === 0; await new Promise((r) => setTimeout(r, 20)))
      expect(Date.now()).toBeLessThan(giveUpAt);
    listening.unsubscribe();
    expect(heard[0]).toMatchObject({ tool: "too_slow", reason: "timeout" });
  });

  it("checks arguments against the endpoint's schema before calling it", async () => {
    const calledBefore = seenHeaders.length;
    const reply = await env.client.request({ prompt: "x", model: "fake:badStock" });
    expect(reply.toolCalls[0]).toMatchObject({ status: "failed", error: { code: "INVALID_ARGUMENTS" } });
    expect(reply.toolCalls[0]?.error?.message).toContain("/symbol must be string");
    expect(seenHeaders).toHaveLength(calledBefore);
  });

  it("tells the service on orchestrate.call.cancel.<tool> when its call is cancelled", async () => {
    const heard: { subject: string; body: unknown; callId: string | undefined }[] = [];
    const listening = nc.subscribe("orchestrate.call.cancel.hang", {
      callback: (_error, msg) =>
        void heard.push({ subject: msg.subject, body: msg.json(), callId: msg.headers?.get("Toolformer-Call-Id") }),
    });
    const id = `hang-${Date.now()}`;
    const reply = env.client.request({ id, prompt: "x", model: "fake:hanging" });
    const giveUpAt = Date.now() + 5_000;
    while (hangingCalls.length === 0) {
      expect(Date.now()).toBeLessThan(giveUpAt);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await env.client.cancel(id);
    expect((await reply).status).toBe("cancelled");
    while (heard.length === 0) {
      expect(Date.now()).toBeLessThan(giveUpAt);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    listening.unsubscribe();
    expect(heard).toEqual([
      {
        subject: "orchestrate.call.cancel.hang",
        callId: hangingCalls[0],
        body: { requestId: id, callId: hangingCalls[0], tool: "hang", reason: "client" },
      },
    ]);
  });

  it("waits a while for a listed tool that answers no responders (its service reconnecting), rather than failing the call", async () => {
    const serve = (service: Service) =>
      service.addEndpoint("steady_quote", {
        subject: "quotes.steady",
        metadata: { "toolformer.parameters": "{}", "toolformer.read_only": "true" },
        handler: (_error, msg) => msg.respond(JSON.stringify({ price: 7 })),
      });
    const before = await new Svcm(nc).add({ name: "quotes", version: "1.0.0" });
    serve(before);
    await waitForCatalog(env.client, ["steady_quote"]);
    // Away, as a service is while it redials after its node died; still listed (three missed rounds drop it).
    await before.stop();
    const id = `no-responders-${Date.now()}`;
    const reply = env.client.request({ id, prompt: id, model: "fake:quote" });
    for await (const event of env.client.events(id)) if (event.type === EventType.toolStarted) break;
    await sleep(300); // the call was sent, and found nobody
    const after = await new Svcm(nc).add({ name: "quotes", version: "1.0.0" });
    serve(after);
    try {
      const answered = await reply;
      expect(answered.toolCalls.map((call) => [call.status, call.result])).toEqual([["succeeded", { price: 7 }]]);
    } finally {
      await after.stop();
    }
  });

  it("drops a tool whose service went away", async () => {
    const other = await new Svcm(nc).add({ name: "ephemeral", version: "0.0.1" });
    other.addEndpoint("fleeting", {
      subject: "eph.fleeting",
      metadata: { "toolformer.parameters": "{}" },
      handler: (_e, m) => m.respond("1"),
    });
    await waitForCatalog(env.client, ["fleeting"]);
    await other.stop();
    const giveUpAt = Date.now() + 10_000;
    while ((await env.client.tools()).tools.some((t) => t.name === "fleeting")) {
      expect(Date.now()).toBeLessThan(giveUpAt);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  });
});
