/**
 * A known workload for the observability test and the dashboard's picture: requests that complete,
 * tool calls, a rate-limited tool, a model answering 429 once, a cancelled request, one speculative
 * hit and one miss. Every reply and event is kept, so what the metrics should say can be worked out.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import type { NormalizedConversation, Scenario, Turn } from "@toolformer/fake-llm";
import { EventType, type OrchestrateEvent, type OrchestrateReply } from "@toolformer/protocol";
import { defineTool, EXAMPLE_TOOLS } from "@toolformer/tools";
import type { EnvironmentOptions, TestEnvironment } from "./environment.ts";
import { toolResults, warmUp } from "./speculation.ts";

/** The rate-limited tool's limit: one call per LIMITED_INTERVAL_MS, so three calls in a round wait. */
export const LIMITED_INTERVAL_MS = 300;
/** What the predictable agent looks up; the workload changes it to make the speculation engine miss. */
const lookupArg = { q: "fixed" };

const lookup = defineTool({
  name: "lookup",
  description: "Looks a term up.",
  parameters: z.object({ q: z.string() }),
  readOnly: true,
  idempotent: true,
  async run({ q }, ctx) {
    await sleep(50, undefined, { signal: ctx.signal });
    return { found: q };
  },
});
const limited = defineTool({
  name: "limited",
  description: "An API allowing one call per interval.",
  parameters: z.object({ n: z.int() }),
  idempotent: true,
  rateLimit: { limit: 1, intervalMs: LIMITED_INTERVAL_MS },
  async run({ n }) {
    return { n };
  },
});
const stuck = defineTool({
  name: "stuck",
  description: "Works until cancelled.",
  parameters: z.object({}),
  idempotent: false,
  async run(_args, ctx) {
    await sleep(60_000, undefined, { signal: ctx.signal });
    return null;
  },
});

/** The first turn calls `calls`, the second answers. */
const oneRound =
  (calls: { name: string; arguments: unknown }[], timeToFirstTokenMs = 0) =>
  (c: NormalizedConversation): Turn =>
    toolResults(c).length === 0 ? { timeToFirstTokenMs, toolCalls: calls } : { text: "done" };

/** Every other try answers 429: a request's first try is refused, its retry answers. */
let busyTries = 0;
const busy: Scenario = () =>
  busyTries++ % 2 === 0 ? { error: { status: 429, message: "slow down", retryAfterMs: 50 } } : { text: "at last" };

export const WORKLOAD_ENVIRONMENT: EnvironmentOptions = {
  tools: [...EXAMPLE_TOOLS, lookup, limited, stuck],
  waitForTools: ["lookup", "limited", "stuck"],
  metrics: true,
  scenarios: {
    agent: oneRound([
      { name: "lookup", arguments: { q: "alpha" } },
      { name: "lookup", arguments: { q: "beta" } },
    ]),
    limited: oneRound([1, 2, 3].map((n) => ({ name: "limited", arguments: { n } }))),
    stuck: oneRound([{ name: "stuck", arguments: {} }]),
    busy,
    // Slower than its lookup, so a speculative lookup has finished when the model asks.
    predictable: (c) => oneRound([{ name: "lookup", arguments: { ...lookupArg } }], 300)(c),
  },
};

export interface WorkloadRun {
  /** Each request's model and reply, in the order they were answered. */
  answered: { model: string; reply: OrchestrateReply }[];
  events: OrchestrateEvent[];
}

/** One request to its reply, with all its events. */
async function run(
  env: TestEnvironment,
  into: WorkloadRun,
  request: { id: string; model: string; speculation?: boolean },
  whileRunning?: (events: AsyncIterable<OrchestrateEvent>) => Promise<void>,
): Promise<OrchestrateReply> {
  const pending = env.client.request({
    id: request.id,
    prompt: request.model === "fake:predictable" ? "Look it up" : "Go",
    model: request.model,
    options: { speculation: request.speculation ?? false },
  });
  await whileRunning?.(env.client.events(request.id));
  const reply = await pending;
  into.answered.push({ model: request.model, reply });
  for await (const event of env.client.events(request.id)) into.events.push(event);
  return reply;
}

/** Teaches the speculation engine the predictable agent (three requests), once per environment. */
export async function warmUpSpeculation(env: TestEnvironment, into: WorkloadRun): Promise<void> {
  const model = "fake:predictable";
  const asked = await warmUp(env, "observability", { model, prompt: () => "Look it up", lastTools: ["lookup"] });
  for (const { reply, events } of asked) {
    into.answered.push({ model, reply });
    into.events.push(...events);
  }
}

/**
 * One pass of the workload; `tag` keeps its request ids apart from other passes'. `miss: false` leaves
 * the speculative miss out: every miss lowers the predictor's measured precision, and enough of them
 * stop speculation altogether.
 */
export async function runWorkload(
  env: TestEnvironment,
  tag: string,
  into: WorkloadRun,
  { miss = true }: { miss?: boolean } = {},
): Promise<void> {
  for (const i of [1, 2]) await run(env, into, { id: `${tag}-agent-${i}`, model: "fake:agent" });
  await run(env, into, { id: `${tag}-limited`, model: "fake:limited" });
  await run(env, into, { id: `${tag}-busy`, model: "fake:busy" });
  await run(env, into, { id: `${tag}-stuck`, model: "fake:stuck" }, async (events) => {
    for await (const event of events) if (event.type === EventType.toolStarted) break;
    await env.client.cancel(`${tag}-stuck`);
  });
  lookupArg.q = "fixed";
  await run(env, into, { id: `${tag}-hit`, model: "fake:predictable", speculation: true });
  if (!miss) return;
  lookupArg.q = `other ${tag}`;
  await run(env, into, { id: `${tag}-miss`, model: "fake:predictable", speculation: true });
  lookupArg.q = "fixed";
}
