import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { OrchestratorUnavailableError, ToolformerClient } from "@toolformer/client";
import type { NormalizedConversation, Turn } from "@toolformer/fake-llm";
import { STREAMS, type OrchestrateReply } from "@toolformer/protocol";
import { streamLeaderNode, type NatsCluster } from "@toolformer/testing";
import { defineTool, EXAMPLE_TOOLS } from "@toolformer/tools";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

/** Runs of each call (`<request>/<call>`), counted where the tool runs: the executors are in this process. */
const runs = new Map<string, number>();
const TOOL_PAUSE_MS = 150;
const countedAdd = defineTool({
  name: "counted_add",
  description: "Adds two numbers after a short pause, counting how often each call ran.",
  parameters: z.object({ a: z.number(), b: z.number() }),
  idempotent: false,
  async run({ a, b }, ctx) {
    const key = `${ctx.requestId}/${ctx.callId}`;
    runs.set(key, (runs.get(key) ?? 0) + 1);
    await sleep(TOOL_PAUSE_MS, undefined, { signal: ctx.signal });
    return { sum: a + b };
  },
});
const CALLS_PER_REQUEST = 4;

/** The result the model was given for one of its calls (the dispatcher hands results back as JSON). */
function resultOf(conversation: NormalizedConversation, callId: string): { sum: number } {
  const message = conversation.messages.find((m) => m.role === "tool" && m.callId === callId);
  if (!message || message.role !== "tool") throw new Error(`no result for ${callId}`);
  return JSON.parse(message.content) as { sum: number };
}

/**
 * Three model turns: n+1 then +2 (a `$ref` to the first call), the model reads that and asks for +10
 * then +100 (another `$ref`), then answers with the total, n + 113. Each turn depends on the previous
 * one's results, so a lost or wrong round shows in the answer.
 */
function arithmetic(conversation: NormalizedConversation): Turn {
  const turn = conversation.messages.filter((m) => m.role === "assistant").length;
  const prompt = conversation.messages.find((m) => m.role === "user");
  const n = Number(/n=(\d+)/.exec(prompt?.content ?? "")?.[1]);
  try {
    if (turn === 0)
      return {
        toolCalls: [
          { id: "a", name: "counted_add", arguments: { a: n, b: 1 } },
          { id: "b", name: "counted_add", arguments: { a: { $ref: "a#/sum" }, b: 2 } },
        ],
      };
    if (turn === 1)
      return {
        toolCalls: [
          { id: "c", name: "counted_add", arguments: { a: resultOf(conversation, "b").sum, b: 10 } },
          { id: "d", name: "counted_add", arguments: { a: { $ref: "c#/sum" }, b: 100 } },
        ],
      };
    return { text: `total ${resultOf(conversation, "d").sum}` };
  } catch (error) {
    return { text: `the tools did not answer: ${String(error)}` };
  }
}

/** When a request was sent: before the kill, while the node was down, after it came back. */
type Phase = "before" | "down" | "after";

interface Outcome {
  id: string;
  phase: Phase;
  expected: string;
  status: string;
  answer: string | undefined;
  latencyMs: number;
}

/** The node that leads most of the streams a round's life goes through (rounds, calls, results). */
async function busiestLeader(nc: NatsConnection, cluster: NatsCluster): Promise<{ node: number; leads: string[] }> {
  const jsm = await jetstreamManager(nc);
  const leads = new Map<number, string[]>();
  for (const stream of [STREAMS.rounds.name, STREAMS.exec.name, STREAMS.results.name]) {
    const node = await streamLeaderNode(jsm, cluster, stream);
    if (node >= 0) leads.set(node, [...(leads.get(node) ?? []), stream]);
  }
  const [node, streams] = [...leads].sort((a, b) => b[1].length - a[1].length)[0] ?? [0, []];
  return { node, leads: streams };
}

describe("one node of a 3-node cluster killed under load", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      cluster: true,
      tools: [...EXAMPLE_TOOLS, countedAdd],
      waitForTools: ["counted_add"],
      scenarios: { arithmetic },
      // Every call takes a place under a cluster-wide cap: the rate limiter's state in KV is on the path too.
      maxConcurrentCalls: 100,
    });
  }, 90_000);
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it("loses no request and runs no call twice: the node's death costs only latency", async () => {
    const cluster = env.cluster!;
    const observer = await cluster.connect("admin");
    const { node: victim, leads } = await busiestLeader(observer, cluster);
    await observer.close();
    // The test's own client stays on a node that lives: a client whose server dies loses its reply inbox.
    const survivor = cluster.nodes[(victim + 1) % cluster.nodes.length]!;
    const client = await ToolformerClient.connect(survivor.url, "survivor-client", cluster.credentials("client"));

    let sent = 0;
    let answered = 0;
    let phase: Phase = "before";
    const outcomes: Promise<Outcome>[] = [];
    const send = (): Promise<Outcome> => {
      const n = 1_000 + sent;
      const id = `node-death-${Date.now()}-${sent++}`;
      const startedAt = Date.now();
      const sentIn = phase;
      const outcome = (status: string, answer?: string): Outcome => {
        answered++;
        return { id, phase: sentIn, expected: `total ${n + 113}`, status, answer, latencyMs: Date.now() - startedAt };
      };
      const input = {
        id,
        prompt: `n=${n}`,
        model: "fake:arithmetic",
        tools: ["counted_add"],
        options: { timeoutMs: 60_000 },
      };
      // "No responders": no dispatcher heard the request (the one of its connection is moving to another node),
      // so nothing was accepted; a client asks again with the same id, as any NATS client would.
      const ask = (): Promise<OrchestrateReply> =>
        client.request(input).catch(async (error: unknown) => {
          if (!(error instanceof OrchestratorUnavailableError) || Date.now() - startedAt > 30_000) throw error;
          await sleep(250);
          return ask();
        });
      return ask().then(
        (reply) => outcome(reply.error ? `${reply.status}: ${reply.error.message}` : reply.status, reply.answer),
        (error: unknown) => outcome(`no reply: ${String(error)}`),
      );
    };
    /** One request every 100 ms for `ms`. */
    const load = async (ms: number) => {
      for (const until = Date.now() + ms; Date.now() < until; await sleep(100)) outcomes.push(send());
    };

    await load(3_000);
    const inFlightAtKill = sent - answered;
    await cluster.killNode(victim);
    const killedAt = Date.now();
    phase = "down";
    await load(5_000);
    await cluster.startNode(victim);
    const downMs = Date.now() - killedAt;
    phase = "after";
    await load(2_000);
    const done = await Promise.all(outcomes);
    await client.close();

    const wrong = done.filter((o) => o.status !== "completed" || o.answer !== o.expected);
    const runTwice = [...runs].filter(([, count]) => count > 1);
    const why = new Map<string, number>();
    for (const o of wrong) why.set(o.status, (why.get(o.status) ?? 0) + 1);
    const latencies = (of: Outcome[]) => {
      const sorted = of.map((o) => o.latencyMs).sort((a, b) => a - b);
      return `median ${sorted[sorted.length >> 1]} ms, max ${sorted.at(-1)} ms`;
    };
    console.info(
      `node death: killed n${victim} (leader of ${leads.join(", ")}) with ${inFlightAtKill} requests in flight, ` +
        `down ${downMs} ms; ${done.length} requests, ${done.length - wrong.length} completed right, ${wrong.length} lost or wrong; ` +
        `${runs.size} calls run, ${runTwice.length} of them more than once`,
    );
    for (const when of ["before", "down", "after"] as const) {
      const of = done.filter((o) => o.phase === when);
      console.info(`  sent ${when}: ${of.length} requests, latency ${latencies(of)}`);
    }
    for (const [status, count] of why) console.info(`  ${count} x ${status}`);
    expect(leads.length).toBeGreaterThan(0);
    expect(inFlightAtKill).toBeGreaterThan(0);
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(runTwice).toEqual([]);
    expect(runs.size).toBe(done.length * CALLS_PER_REQUEST);
  }, 180_000);
});
