import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { jetstreamManager } from "@nats-io/jetstream";
import { EventType, INTERNAL_SUBJECTS, STREAMS } from "@toolformer/protocol";
import type { NormalizedConversation, Scenario, Turn } from "@toolformer/fake-llm";
import { speculationActor } from "@toolformer/speculation";
import { defineTool, EXAMPLE_TOOLS } from "@toolformer/tools";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";
import { ask, ofType, promptOf, toolResults, warmUp, type Workload } from "../support/speculation.ts";
import { speculationOptions } from "../support/stack.ts";

/** Every run of a tool, with how it ended, so a test can tell a reused result from a second run. */
interface Run {
  requestId: string;
  tool: string;
  args: unknown;
  aborted: boolean;
  startedAt: number;
  endedAt?: number;
}
const runs: Run[] = [];
const runsOf = (requestId: string, tool?: string) =>
  runs.filter((r) => r.requestId === requestId && (tool === undefined || r.tool === tool));

/** How long each tool takes; tests change it to put a speculative call in flight or finish it early. */
const toolMs = { search: 150, fetch_page: 150 };

function recordingTool<T extends z.ZodType>(
  name: "search" | "fetch_page",
  parameters: T,
  result: (args: z.infer<T>) => unknown,
) {
  return defineTool({
    name,
    description: `Pretends to ${name}.`,
    parameters,
    readOnly: true,
    idempotent: true,
    async run(args, ctx) {
      const run: Run = { requestId: ctx.requestId, tool: name, args, aborted: false, startedAt: Date.now() };
      runs.push(run);
      try {
        await sleep(toolMs[name], undefined, { signal: ctx.signal });
      } catch (error) {
        run.aborted = true;
        throw error;
      } finally {
        run.endedAt = Date.now();
      }
      return result(args);
    },
  });
}

const search = recordingTool("search", z.object({ query: z.string() }), ({ query }) => ({
  results: [0, 1, 2].map((i) => ({ url: `https://example.org/${encodeURIComponent(query)}/${i}` })),
}));
const fetchPage = recordingTool("fetch_page", z.object({ url: z.string() }), ({ url }) => ({ text: `page ${url}` }));
const emails: string[] = [];
const sendEmail = defineTool({
  name: "send_email",
  description: "Sends an email (a side effect: never run speculatively).",
  parameters: z.object({ to: z.string() }),
  idempotent: false,
  async run({ to }, ctx) {
    emails.push(ctx.requestId);
    return { sent: to };
  },
});

/** One call at a time across the cluster, so calls wait for a place at the limiter, in priority order. */
const apiStarts = new Map<string, number>();
const slowApi = defineTool({
  name: "slow_api",
  description: "An API that serves one call at a time.",
  parameters: z.object({ q: z.string(), ms: z.int().optional() }),
  readOnly: true,
  idempotent: true,
  maxConcurrency: 1,
  async run({ q, ms }, ctx) {
    apiStarts.set(q, Date.now());
    await sleep(ms ?? 50, undefined, { signal: ctx.signal });
    return { answer: q };
  },
});
const asker: Scenario = (c) =>
  toolResults(c).length === 0
    ? {
        timeToFirstTokenMs: 200,
        toolCalls: [{ name: "slow_api", arguments: { q: promptOf(c).replace(/^Ask: /, "") } }],
      }
    : { text: "answered" };
const blocker: Scenario = (c) =>
  toolResults(c).length === 0
    ? { toolCalls: [{ name: "slow_api", arguments: { q: "block", ms: 1_500 } }] }
    : { text: "unblocked" };

/** A research agent: search what the prompt names, fetch the top results, answer. */
const research =
  (modelMs: number, query = (prompt: string) => prompt.replace(/^Research: /, ""), fetches = 2) =>
  (c: NormalizedConversation): Turn => {
    const results = toolResults(c);
    const base = { timeToFirstTokenMs: modelMs };
    if (results.length === 0)
      return { ...base, toolCalls: [{ name: "search", arguments: { query: query(promptOf(c)) } }] };
    const last = results.at(-1)!;
    if (last.name === "search") {
      const { results: found } = JSON.parse(last.content) as { results: { url: string }[] };
      return {
        ...base,
        toolCalls: found.slice(0, fetches).map((r) => ({ name: "fetch_page", arguments: { url: r.url } })),
      };
    }
    return { ...base, text: "summary" };
  };

/** How many call results of a request the results stream holds. */
async function storedResults(env: TestEnvironment, requestId: string): Promise<number> {
  const jsm = await jetstreamManager(env.admin);
  const filter = INTERNAL_SUBJECTS.result(requestId, "*");
  const { state } = await jsm.streams.info(STREAMS.results.name, { subjects_filter: filter });
  return Object.values(state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
}

/**
 * The research agent, but each turn first waits (5 s at most) until the request's speculative calls
 * for it have stored their results: a loaded machine cannot turn a finished hit into a running one.
 */
const patientResearch =
  (env: () => TestEnvironment, requestId: string, expected: number[]): Scenario =>
  async (c) => {
    const want = expected[toolResults(c).length] ?? 0;
    const giveUpAt = Date.now() + 5_000;
    while ((await storedResults(env(), requestId)) < want && Date.now() < giveUpAt) await sleep(20);
    return research(0)(c);
  };

/** Always looks the same thing up and sends the same email: both predictable, only the lookup safe to speculate. */
const mailer: Scenario = (c) =>
  toolResults(c).length === 0
    ? {
        timeToFirstTokenMs: 200,
        toolCalls: [
          { name: "search", arguments: { query: "weekly report" } },
          { name: "send_email", arguments: { to: "ops@example.org" } },
        ],
      }
    : { text: "sent" };

/** The research agent's workload, with prompts of its own. */
const researchOf = (tag: string): Workload => ({
  model: "fake:research",
  prompt: (i) => `Research: ${tag} topic ${i}`,
  lastTools: ["fetch_page"],
});

describe("speculation on real NATS", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, search, fetchPage, sendEmail, slowApi],
      waitForTools: ["search", "fetch_page", "send_email", "slow_api"],
      copies: { speculation: 2 },
      speculation: { maxPerRequest: 8 },
      scenarios: {
        research: research(300),
        patient: patientResearch(() => env, "hit-finished", [1, 3]),
        quick: research(150),
        contrarian: research(300, () => "something else entirely"),
        mailer,
        asker,
        blocker,
      },
    });
    await warmUp(env, "shared", researchOf("shared"));
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it("reuses a finished speculative call: each tool runs once and the reply marks the calls speculative", async () => {
    toolMs.search = toolMs.fetch_page = 50;
    const { reply, events } = await ask(env, "hit-finished", "fake:patient", "Research: coral reefs");
    expect(reply.toolCalls.map((c) => [c.tool, c.speculative])).toEqual([
      ["search", true],
      ["fetch_page", true],
      ["fetch_page", true],
    ]);
    expect(reply.toolCalls[0]!.args).toEqual({ query: "coral reefs" });
    expect(reply.toolCalls.every((c) => c.status === "succeeded")).toBe(true);
    expect(runsOf("hit-finished").map((r) => r.tool)).toEqual(["search", "fetch_page", "fetch_page"]);
    const hits = ofType(events, EventType.speculationHit);
    expect(hits.map((h) => h.state)).toEqual(["finished", "finished", "finished"]);
    expect(ofType(events, EventType.speculationStarted)).toHaveLength(3);
    expect(ofType(events, EventType.speculationMiss)).toEqual([]);
    // The model's calls still get their tool events, from the scheduler.
    for (const call of reply.toolCalls)
      expect(events.some((e) => e.type === EventType.toolCompleted && e.callId === call.id)).toBe(true);
  });

  it("adopts a speculative call still running: the model's call waits for it instead of running again", async () => {
    toolMs.search = toolMs.fetch_page = 900; // still running when the model (150 ms) asks
    const { reply, events } = await ask(env, "hit-running", "fake:quick", "Research: tidal pools");
    expect(reply.toolCalls.every((c) => c.speculative && c.status === "succeeded")).toBe(true);
    expect(runsOf("hit-running")).toHaveLength(3);
    expect(runsOf("hit-running").some((r) => r.aborted)).toBe(false);
    expect(ofType(events, EventType.speculationHit).map((h) => h.state)).toContain("running");
  });

  it("cancels misses through the broadcast and never reports them as the model's calls", async () => {
    toolMs.search = toolMs.fetch_page = 1_000;
    const { reply, events } = await ask(env, "miss", "fake:contrarian", "Research: glaciers");
    expect(reply.toolCalls.map((c) => c.args)).toEqual([
      { query: "something else entirely" },
      { url: "https://example.org/something%20else%20entirely/0" },
      { url: "https://example.org/something%20else%20entirely/1" },
    ]);
    const misses = ofType(events, EventType.speculationMiss);
    expect(misses.map((m) => m.tool)).toContain("search");
    const missedSearch = runsOf("miss", "search").find((r) => (r.args as { query: string }).query === "glaciers");
    expect(missedSearch?.aborted).toBe(true);
    const started = new Set(ofType(events, EventType.speculationStarted).map((s) => s.callId));
    expect(reply.toolCalls.some((c) => started.has(c.id))).toBe(false);
    expect(events.some((e) => "callId" in e && started.has(e.callId) && e.type.startsWith("tool."))).toBe(false);
  });

  it("never speculates a tool with side effects, however predictable", async () => {
    await warmUp(env, "mail", {
      model: "fake:mailer",
      prompt: () => "Send the report",
      lastTools: ["search", "send_email"],
    });
    const { events } = await ask(env, "mail", "fake:mailer", "Send the report");
    // Both calls followed every time, so both are predicted at full confidence; only the lookup may run.
    expect(ofType(events, EventType.speculationStarted).map((s) => s.tool)).toEqual(["search"]);
    expect(emails.filter((id) => id === "mail")).toHaveLength(1);
  });

  it("a speculative call taken over while it waits for a place waits at the model's call's priority", async () => {
    await warmUp(env, "ask", { model: "fake:asker", prompt: (i) => `Ask: warm ${i}`, lastTools: ["slow_api"] });
    const blocking = env.client.request({ prompt: "Block", model: "fake:blocker" });
    while (!apiStarts.has("block")) await sleep(10);
    // Alpha's speculative call queues at priority 0 behind the blocker; beta's call then queues at
    // priority 5; alpha's model asks for the call (priority 9) while both still wait.
    const alpha = env.client.request({
      id: "promoted",
      prompt: "Ask: alpha",
      model: "fake:asker",
      options: { speculation: true, priority: 9 },
    });
    for await (const event of env.client.events("promoted")) if (event.type === EventType.speculationStarted) break;
    const beta = env.client.request({ prompt: "Ask: beta", model: "fake:asker", options: { priority: 5 } });
    const [alphaReply] = await Promise.all([alpha, beta, blocking]);
    expect(alphaReply.toolCalls[0]!.speculative).toBe(true);
    expect(apiStarts.get("alpha")!).toBeLessThan(apiStarts.get("beta")!);
  });

  it("keeps speculation off for requests that do not ask for it", async () => {
    const { reply, events } = await ask(env, "off", "fake:research", "Research: deserts", false);
    expect(reply.toolCalls.some((c) => c.speculative)).toBe(false);
    expect(ofType(events, EventType.speculationStarted)).toEqual([]);
  });
});

describe("speculation budgets and a restarted engine", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, search, fetchPage],
      waitForTools: ["search", "fetch_page"],
      // Three speculative calls per request, and one place for them per tool (the executors have 256).
      speculation: { maxPerRequest: 3, executorShare: 0.001 },
      scenarios: { research: research(300, undefined, 3) },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it("holds the per-request budget and the share of executor capacity", async () => {
    toolMs.search = toolMs.fetch_page = 100;
    await warmUp(env, "budget", researchOf("budget"));
    const { reply, events } = await ask(env, "budget", "fake:research", "Research: volcanoes");
    expect(ofType(events, EventType.speculationStarted)).toHaveLength(3);
    expect(reply.toolCalls.filter((c) => c.speculative)).toHaveLength(3);
    expect(reply.toolCalls).toHaveLength(4);
    expect(runsOf("budget")).toHaveLength(4);
    // The two speculative fetches had one place between them: they ran one after the other.
    const speculativeIds = new Set(ofType(events, EventType.speculationStarted).map((s) => s.args));
    const fetches = runsOf("budget", "fetch_page").filter((r) =>
      [...speculativeIds].some((args) => JSON.stringify(args) === JSON.stringify(r.args)),
    );
    expect(fetches).toHaveLength(2);
    const [first, second] = fetches.sort((a, b) => a.startedAt - b.startedAt);
    expect(second!.startedAt).toBeGreaterThanOrEqual(first!.endedAt!);
  });

  it("keeps what it learned across a restart, shared by every copy: new copies predict from the history in KV", async () => {
    const engines = env.stack.actors.filter((a) => a.name === "speculation");
    await Promise.all(engines.map((engine) => engine.stop()));
    // Two copies that have learned nothing themselves; the turns are shared out between them.
    const options = speculationOptions({ fakeLlmUrl: env.fake.url, speculation: { maxPerRequest: 3 } });
    await env.stack.add(speculationActor(options));
    await env.stack.add(speculationActor(options));
    for (const topic of ["meteors", "comets", "nebulae"]) {
      const { reply } = await ask(env, `after-restart-${topic}`, "fake:research", `Research: ${topic}`);
      expect(reply.toolCalls.filter((c) => c.speculative)).toHaveLength(3);
    }
  });
});

describe("the fast-model predictor", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, search, fetchPage],
      waitForTools: ["search", "fetch_page"],
      // A cheaper model that answers at once what the main model takes 300 ms to say.
      speculation: { fastModel: "fake:oracle" },
      scenarios: { research: research(300), oracle: research(0) },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it("predicts a request's calls with no history at all, and they are taken over", async () => {
    toolMs.search = toolMs.fetch_page = 100;
    const { reply, events } = await ask(env, "oracle", "fake:research", "Research: auroras");
    expect(reply.toolCalls.every((c) => c.speculative)).toBe(true);
    expect(runsOf("oracle")).toHaveLength(3);
    const started = ofType(events, EventType.speculationStarted);
    expect(started.map((s) => s.predictors)).toEqual([["fast-model"], ["fast-model"], ["fast-model"]]);
    // The fast model was asked the main model's question: same conversation, same tools.
    const asked = env.fake.received.filter((r) => r.body && (r.body as { model?: string }).model === "oracle");
    expect(asked.length).toBe(3);
  });
});

describe("speculation on a 3-node cluster", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      cluster: true,
      tools: [...EXAMPLE_TOOLS, search, fetchPage],
      waitForTools: ["search", "fetch_page"],
      copies: { speculation: 2, scheduler: 2 },
      scenarios: { research: research(300) },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it("learns, predicts and hands over with R3 streams and buckets", async () => {
    toolMs.search = toolMs.fetch_page = 50;
    await warmUp(env, "cluster", researchOf("cluster"));
    const { reply, events } = await ask(env, "cluster-hit", "fake:research", "Research: fjords");
    expect(reply.toolCalls.map((c) => c.speculative)).toEqual([true, true, true]);
    expect(runsOf("cluster-hit")).toHaveLength(3);
    expect(ofType(events, EventType.speculationMiss)).toEqual([]);
  });
});
