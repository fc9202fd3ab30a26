import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { Kvm } from "@nats-io/kv";
import { spawnActors, waitForActors, type ActorProcesses } from "@toolformer/cli";
import type { NormalizedConversation, Scenario } from "@toolformer/fake-llm";
import { ContentType, decode, DEFAULT_TENANT, EventType, KV_BUCKETS } from "@toolformer/protocol";
import { historyKey } from "@toolformer/speculation";
import { defineTool, EXAMPLE_TOOLS } from "@toolformer/tools";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

/**
 * Runs of each call, by request and call id, where the tools run (the executors are in this process).
 * A speculative call's id is made from its tool and arguments alone, so two requests with one prompt
 * (a warm-up's and a busy one's) can each run a call of that id.
 */
const runs = new Map<string, number>();
const counted = (name: string, result: (args: Record<string, string>) => unknown) =>
  defineTool({
    name,
    description: `Pretends to ${name}.`,
    parameters: z.record(z.string(), z.string()),
    readOnly: true,
    idempotent: true,
    async run(args, ctx) {
      const call = `${ctx.requestId}/${ctx.callId}`;
      runs.set(call, (runs.get(call) ?? 0) + 1);
      await sleep(200, undefined, { signal: ctx.signal });
      return result(args);
    },
  });
const search = counted("search", ({ query }) => ({ results: [`https://example.org/${query}`] }));
const fetchPage = counted("fetch_page", ({ url }) => ({ text: `page ${url}` }));

const promptOf = (c: NormalizedConversation) =>
  c.messages.flatMap((m) => (m.role === "user" ? [m.content] : [])).at(-1) ?? "";
/** Searches what the prompt names, fetches the result, answers: the same shape every time, so it is learned. */
const research: Scenario = (c) => {
  const results = c.messages.filter((m) => m.role === "tool");
  const base = { timeToFirstTokenMs: 300 };
  if (results.length === 0)
    return { ...base, toolCalls: [{ name: "search", arguments: { query: promptOf(c).replace(/^Research: /, "") } }] };
  if (results.length === 1) {
    const { results: found } = JSON.parse(results[0]!.content) as { results: string[] };
    return { ...base, toolCalls: [{ name: "fetch_page", arguments: { url: found[0]! } }] };
  }
  return { ...base, text: `summary of ${promptOf(c)}` };
};

describe("a speculation engine stopped with SIGTERM while requests speculate", () => {
  let env: TestEnvironment;
  let engines: ActorProcesses;
  const prompt = (i: number) => `Research: topic ${i}`;

  /** Turns the shared history has seen in the first state of the research workload. */
  async function turnsSeen(): Promise<number> {
    const offered = (await env.client.tools()).tools.map((t) => t.name);
    const history = await new Kvm(env.admin).open(KV_BUCKETS.speculationHistory);
    const entry = await history.get(historyKey(DEFAULT_TENANT, offered, prompt(0), []));
    if (!entry || entry.operation !== "PUT") return 0;
    return (decode(entry.value, ContentType.msgpack) as { observations: number }).observations;
  }
  async function untilSeen(turns: number): Promise<void> {
    const giveUpAt = Date.now() + 15_000;
    while ((await turnsSeen()) < turns) {
      if (Date.now() > giveUpAt) throw new Error(`the history saw ${await turnsSeen()} of ${turns} turns`);
      await sleep(50);
    }
  }
  const ask = (i: number, tag: string) =>
    env.client.request({
      id: `${tag}-${i}`,
      prompt: prompt(i),
      model: "fake:research",
      options: { speculation: true },
    });

  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, search, fetchPage],
      waitForTools: ["search", "fetch_page"],
      copies: { speculation: 0 },
      scenarios: { research },
    });
    engines = spawnActors(
      { speculation: 1 },
      { ...process.env, NATS_URL: env.natsUrl, LOG_LEVEL: "error" },
      { output: "ignore", credentials: env.nats.credentials },
    );
    await waitForActors(env.natsUrl, { speculation: 1 }, 15_000, env.nats.credentials("admin"));
    for (let i = 0; i < 3; i++) await ask(i, "warm");
    await untilSeen(3);
  });
  afterAll(async () => {
    await engines?.stop();
    await env?.[Symbol.asyncDispose]();
  });

  it("exits in seconds, loses none of what it learned, and no call runs twice", async () => {
    const replies = Array.from({ length: 6 }, (_, i) => ask(i, "busy"));
    // Work in flight: the engine has started speculative calls for the requests, and learns from them.
    let speculated = false;
    for await (const event of env.client.events("busy-0")) {
      speculated ||= event.type === EventType.speculationStarted;
      if (speculated || event.type === EventType.requestCompleted) break;
    }
    expect(speculated).toBe(true);
    const [victim] = engines.running();
    const exit = await engines.signal(victim!, "SIGTERM", 25_000);
    console.info(`speculation stop: exited ${exit.code ?? exit.signal} after ${exit.afterMs} ms`);
    expect(exit.forced).toBe(false);
    expect(exit.code).toBe(0);
    expect(exit.afterMs).toBeLessThan(10_000);

    for (const [i, reply] of (await Promise.all(replies)).entries()) {
      expect(reply.status).toBe("completed");
      expect(reply.answer).toBe(`summary of ${prompt(i)}`);
      expect(reply.toolCalls.map((call) => call.result)).toEqual([
        { results: [`https://example.org/topic ${i}`] },
        { text: `page https://example.org/topic ${i}` },
      ]);
    }
    expect([...runs].filter(([, count]) => count !== 1)).toEqual([]);

    // What the stopped copy counted was written before it left; what it had not counted yet, the next
    // copy learns: every finished request is in the history exactly once.
    engines.add("speculation");
    await untilSeen(3 + 6);
    expect(await turnsSeen()).toBe(3 + 6);
  }, 60_000);
});
