import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ResultCache, type ResultCacheCounts } from "@toolformer/executor";
import { EventType, type ExecCall, type OrchestrateReply } from "@toolformer/protocol";
import { bind, createLogger } from "@toolformer/runtime";
import { EXAMPLE_TOOLS, toolDefinitionOf } from "@toolformer/tools";
import { startNatsCluster, type NatsCluster } from "@toolformer/testing";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";
import { quoteTools } from "../support/quote-tools.ts";

const { tools, runs } = quoteTools();
const calls = (name: string, symbols: string[]) => ({
  turns: [{ toolCalls: symbols.map((symbol) => ({ name, arguments: { symbol } })) }, { text: "done" }],
});

describe("the result cache of read-only tools", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, ...tools],
      copies: { executor: 3 },
      waitForTools: ["quote", "fleeting_quote", "limited_quote", "buy"],
      scenarios: {
        acme: calls("quote", ["ACME"]),
        fleeting: calls("fleeting_quote", ["ACME"]),
        buys: calls("buy", ["ACME", "ACME"]),
        limited: calls("limited_quote", ["ACME", "ACME", "ACME", "ACME"]),
      },
    });
  }, 60_000);
  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
  });

  const ask = (model: string, cache?: boolean) =>
    env.client.request({
      prompt: "x",
      model: `fake:${model}`,
      ...(cache === undefined ? {} : { options: { cache } }),
    });
  const cachedOf = (reply: OrchestrateReply) => reply.toolCalls.map((call) => [call.status, call.cached ?? false]);

  it("serves an identical call from the cache, says so in the reply and the events, and runs it when the request bypasses the cache", async () => {
    const first = await ask("acme");
    expect(cachedOf(first)).toEqual([["succeeded", false]]);
    const second = await ask("acme");
    expect(cachedOf(second)).toEqual([["succeeded", true]]);
    expect(second.toolCalls[0]?.result).toEqual(first.toolCalls[0]?.result);
    expect(runs.get("quote:ACME")).toBe(1);
    const completed = [];
    for await (const event of env.client.events(second.id!))
      if (event.type === EventType.toolCompleted) completed.push(event);
    expect(completed).toMatchObject([{ tool: "quote", cached: true }]);

    const bypassed = await ask("acme", false);
    expect(cachedOf(bypassed)).toEqual([["succeeded", false]]);
    expect(runs.get("quote:ACME")).toBe(2);
  }, 30_000);

  it("runs the call again once its result has expired", async () => {
    const first = await ask("fleeting");
    expect(cachedOf(first)).toEqual([["succeeded", false]]);
    // The result was stored before the reply came: 400 ms from here is past its 300 ms TTL.
    await new Promise((resolve) => setTimeout(resolve, 400));
    const after = await ask("fleeting");
    expect(cachedOf(after)).toEqual([["succeeded", false]]);
    expect(runs.get("fleeting:ACME")).toBe(2);
  }, 30_000);

  it("never caches a tool with side effects: each identical call runs, and nothing is stored for it", async () => {
    const reply = await ask("buys");
    expect(cachedOf(reply)).toEqual([
      ["succeeded", false],
      ["succeeded", false],
    ]);
    expect(runs.get("buy:ACME")).toBe(2);
    const kv = (await bind(env.admin, { streams: [], buckets: ["resultCache"] })).kv.resultCache!;
    const keys: string[] = [];
    for await (const key of await kv.keys("buy.>")) keys.push(key);
    expect(keys).toEqual([]);
  }, 30_000);

  it("takes no rate-limit permit for a hit: four identical calls of a tool allowed one call a minute finish at once, twice", async () => {
    // Without the look-up before the permit, three of the four would wait a minute for the window and
    // time out at 15 s.
    for (const expected of [
      [false, true, true, true],
      [true, true, true, true],
    ]) {
      const startedAt = Date.now();
      const reply = await env.client.request({
        prompt: "x",
        model: "fake:limited",
        tools: ["limited_quote"],
        options: { timeoutMs: 15_000 },
      });
      expect(Date.now() - startedAt).toBeLessThan(10_000);
      expect(reply.toolCalls.map((call) => call.status)).toEqual(Array(4).fill("succeeded"));
      expect(reply.toolCalls.map((call) => call.cached ?? false).sort()).toEqual(expected);
    }
    expect(runs.get("limited:ACME")).toBe(1);
  }, 40_000);

  it("lets concurrent identical calls on three executors wait for one run (single flight)", async () => {
    await expectOneRun(() => env.nats.connect("executor"));
  }, 30_000);
});

describe("the result cache on a 3-node cluster (R3 bucket, compare-and-set by the bucket's sequence before 2.9.21)", () => {
  let cluster: NatsCluster;
  beforeAll(async () => {
    cluster = await startNatsCluster({ size: 3 });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it("still runs concurrent identical calls once, from caches connected to three different nodes", async () => {
    await expectOneRun((n) => cluster.connect("executor", { servers: cluster.urls[n - 1] }));
  }, 60_000);
});

/** Six identical calls through three executors' caches at once (two each): the tool runs once. */
async function expectOneRun(connect: (n: number) => Promise<NatsConnection>): Promise<void> {
  const connections: NatsConnection[] = [];
  const hits: string[] = [];
  const counts: ResultCacheCounts = { hit: (tool) => hits.push(tool), miss() {}, stored() {} };
  try {
    const caches = await Promise.all(
      [1, 2, 3].map(async (n) => {
        const nc = await connect(n);
        connections.push(nc);
        const { jsm, kv } = await bind(nc, { streams: [], buckets: ["resultCache"] });
        const log = createLogger("executor", `cache-${n}`, "silent");
        return ResultCache.open({ nc, js: jetstream(nc), jsm, kv, actorId: `cache-${n}`, log }, counts);
      }),
    );
    const call: ExecCall = {
      requestId: "single-flight",
      callId: "c",
      round: 1,
      tool: "quote",
      args: { symbol: `SF${Date.now()}` },
      attempt: 1,
      deadline: Date.now() + 20_000,
      traceparent: "",
      priority: 5,
      tenant: "default",
      speculative: false,
      extraScopes: [],
    };
    let ran = 0;
    const run = async () => {
      ran++;
      await new Promise((resolve) => setTimeout(resolve, 500));
      return { price: 42 };
    };
    const quote = toolDefinitionOf(tools[0]!);
    const results = await Promise.all(
      // Six calls with the same arguments, each its own call (a call asking again keeps its own lease).
      caches.flatMap((cache, n) =>
        [1, 2].map((k) => cache.through({ ...call, callId: `c${n}-${k}` }, quote, run, new AbortController().signal)),
      ),
    );
    expect(ran).toBe(1);
    expect(results.map((r) => r.value)).toEqual(Array(6).fill({ price: 42 }));
    expect(results.filter((r) => r.cached)).toHaveLength(5);
    expect(hits).toHaveLength(5);
  } finally {
    for (const nc of connections) await nc.close();
  }
}
