import { Svcm, type Service } from "@nats-io/services";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEnvironment, waitForCatalog, type TestEnvironment } from "../support/environment.ts";

/** The tools' own limit: at most LIMIT calls in a window of WINDOW_MS that opens with its first call. */
const LIMIT = 2;
const WINDOW_MS = 1_500;
/** A tool answers "too many" after this long: the other calls sent with the refused one arrive meanwhile. */
const REFUSAL_DELAY_MS = 400;
const PARALLEL = 6;

interface Arrival {
  tool: string;
  callId: string;
  at: number;
}
interface Refusal {
  tool: string;
  callId: string;
  sentAt: number;
  /** When the tool's window ends, which its Retry-After says. */
  until: number;
}

/**
 * A service whose tools enforce their own fixed-window limit, the way a third-party API does, and
 * answer a call over it with service error 429 and `Retry-After` (seconds, to the millisecond).
 */
async function serveLimitedTools(nc: NatsConnection) {
  const arrivals: Arrival[] = [];
  const refusals: Refusal[] = [];
  const service: Service = await new Svcm(nc).add({ name: "quota", version: "1.0.0", queue: "q" });
  const endpoint = (tool: string, idempotent: boolean) => {
    let window = { opened: 0, used: 0 };
    service.addEndpoint(tool, {
      subject: `quota.${tool}`,
      metadata: {
        "toolformer.parameters": JSON.stringify({ type: "object", properties: { n: { type: "number" } } }),
        "toolformer.description": `A call of ${tool}`,
        "toolformer.idempotent": String(idempotent),
      },
      handler: (_error, msg) => {
        const now = Date.now();
        const callId = msg.headers?.get("Toolformer-Call-Id") ?? "";
        arrivals.push({ tool, callId, at: now });
        if (now >= window.opened + WINDOW_MS) window = { opened: now, used: 0 };
        if (++window.used <= LIMIT) return void msg.respond(JSON.stringify({ done: (msg.json() as { n: number }).n }));
        const until = window.opened + WINDOW_MS;
        void sleep(REFUSAL_DELAY_MS).then(() => {
          const sentAt = Date.now();
          const h = headers();
          h.set("Nats-Service-Error", "too many requests");
          h.set("Nats-Service-Error-Code", "429");
          h.set("Retry-After", (Math.max(0, until - sentAt) / 1_000).toFixed(3));
          refusals.push({ tool, callId, sentAt, until });
          msg.respond("", { headers: h });
        });
      },
    });
  };
  endpoint("quota_lookup", true);
  endpoint("quota_write", false);
  return { arrivals, refusals, stop: () => service.stop() };
}

const turn = (tool: string, count: number) => ({
  turns: [{ toolCalls: Array.from({ length: count }, (_, n) => ({ name: tool, arguments: { n } })) }, { text: "done" }],
});

describe("a tool that answers 429", () => {
  let env: TestEnvironment;
  let provider: NatsConnection;
  let tools: Awaited<ReturnType<typeof serveLimitedTools>>;

  beforeAll(async () => {
    env = await startEnvironment({
      copies: { executor: 3, rateLimiter: 2 },
      scenarios: { lookups: turn("quota_lookup", PARALLEL), writes: turn("quota_write", LIMIT + 1) },
    });
    provider = await env.nats.connect("tool-provider");
    tools = await serveLimitedTools(provider);
    await waitForCatalog(env.client, ["quota_lookup", "quota_write"]);
  });
  afterAll(async () => {
    await tools?.stop();
    await provider?.close();
    await env?.[Symbol.asyncDispose]();
  });

  it(
    "is left alone by every executor until its Retry-After, and its idempotent calls then succeed",
    { timeout: 60_000 },
    async () => {
      const reply = await env.client.request({ prompt: "x", model: "fake:lookups" });
      expect(reply.status).toBe("completed");
      expect(reply.toolCalls.map((call) => [call.status, call.result])).toEqual(
        Array.from({ length: PARALLEL }, (_, n) => ["succeeded", { done: n }]),
      );
      const refused = tools.refusals.filter((r) => r.tool === "quota_lookup");
      expect(refused.length).toBeGreaterThan(0);
      // A call refused once is not sent again before the time its 429 gave: no call is refused twice
      // in one window. (A call the limiters admitted before the block was stored may still arrive after
      // the 429, sent together with the refused one; it is refused, and blocked, once.)
      const windows = refused.map((r) => `${r.callId} until ${r.until}`);
      expect(
        windows.filter((w, i) => windows.indexOf(w) !== i),
        "calls refused twice in one window",
      ).toEqual([]);
      const arrived = tools.arrivals.filter((a) => a.tool === "quota_lookup");
      for (const refusal of refused) {
        const again = arrived.filter(
          (a) => a.callId === refusal.callId && a.at > refusal.sentAt && a.at < refusal.until,
        );
        expect(again, "a refused call sent again before its Retry-After").toEqual([]);
      }
      // Every call reached the tool.
      expect(new Set(arrived.map((a) => a.callId)).size).toBe(PARALLEL);
    },
  );

  it("fails a call with side effects with RATE_LIMITED rather than send it again", async () => {
    await sleep(WINDOW_MS); // a fresh window for quota_write
    const reply = await env.client.request({ prompt: "x", model: "fake:writes" });
    const statuses = reply.toolCalls.map((call) => call.status).sort();
    expect(statuses).toEqual(["failed", "succeeded", "succeeded"]);
    expect(reply.toolCalls.find((call) => call.status === "failed")?.error).toMatchObject({
      code: "RATE_LIMITED",
      message: "too many requests",
    });
    expect(tools.arrivals.filter((a) => a.tool === "quota_write")).toHaveLength(LIMIT + 1);
  });
});
