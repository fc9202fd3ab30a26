import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { isAlive, provisionAsAdmin } from "@toolformer/testing";
import { spawnActors, waitForActors, type ActorProcesses } from "@toolformer/cli";
import { ReplyTimeoutError } from "@toolformer/client";
import { dispatcherActor } from "@toolformer/dispatcher";
import type { NormalizedConversation, Turn } from "@toolformer/fake-llm";
import { EventType, STREAMS, type OrchestrateReply } from "@toolformer/protocol";
import { EXAMPLE_TOOLS } from "@toolformer/tools";
import { countedSleep } from "../support/counted-sleep.ts";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

/** Runs of each call, counted where the tool runs (the executors are in this process). */
const { tool: counted, runs } = countedSleep((value, ctx) => `${ctx.requestId}/${JSON.stringify(value)}`);

/**
 * Three turns: three parallel calls (ids generated anew each time the turn is asked), one call of what
 * their results say, then an answer made of what the conversation holds. A model that was shown a
 * wrong or missing result answers differently.
 */
function threeTurns(slowFirstTurn: boolean) {
  return (conversation: NormalizedConversation): Turn => {
    const turn = conversation.messages.filter((m) => m.role === "assistant").length;
    const results = conversation.messages.flatMap((m) => (m.role === "tool" ? [m.content] : []));
    if (turn === 0)
      return {
        toolCalls: ["a", "b", "c"].map((value) => ({ name: "counted_sleep", arguments: { ms: 1_500, value } })),
        ...(slowFirstTurn ? { timeToFirstTokenMs: 20, tokensPerSecond: 12 } : {}),
      };
    if (turn === 1) {
      const values = results.map((content) => (JSON.parse(content) as { value: unknown }).value);
      return { toolCalls: [{ name: "counted_sleep", arguments: { ms: 1_500, value: values } }] };
    }
    return { text: `answer: ${results.at(-1) ?? "missing"} after ${results.length} results` };
  };
}

const EXPECTED_ANSWER = 'answer: {"value":["a","b","c"]} after 4 results';

describe("a dispatcher that dies or stops in the middle of a request", () => {
  let env: TestEnvironment;
  let victims: ActorProcesses;
  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, counted],
      copies: { dispatcher: 0 },
      waitForTools: [], // the dispatchers list the tools, and they start in each test
      scenarios: { three: threeTurns(false), slow: threeTurns(true) },
    });
    victims = spawnActors(
      {},
      { ...process.env, NATS_URL: env.natsUrl, FAKE_LLM_URL: env.fake.url, LOG_LEVEL: "error" },
      { output: "ignore", credentials: env.nats.credentials },
    );
  });
  afterAll(async () => {
    await victims?.stop();
    await env?.[Symbol.asyncDispose]();
  });

  /** One dispatcher process that will run the request, the only one until the test replaces it. */
  async function startVictim(): Promise<number> {
    const before = new Set(victims.pids().map((p) => p.pid));
    victims.add("dispatcher");
    await waitForActors(env.natsUrl, { dispatcher: 1 }, 15_000, env.nats.credentials("admin"));
    const pid = victims.pids().find((p) => !before.has(p.pid))?.pid;
    if (pid === undefined) throw new Error("the dispatcher process did not start");
    await waitForTools();
    return pid;
  }

  async function waitForTools(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if ((await env.client.tools().catch(() => ({ tools: [] }))).tools.some((t) => t.name === "counted_sleep")) return;
      await sleep(100);
    }
    throw new Error("counted_sleep never appeared");
  }

  /** The model turns the fake model served for one request (its prompt is the request's id). */
  const turnsAsked = (prompt: string) =>
    env.fake.received
      .filter((r) => r.conversation.messages[0]?.content === prompt)
      .map((r) => r.conversation.messages.filter((m) => m.role === "assistant").length);

  const runsOf = (id: string) =>
    Object.fromEntries(
      [...runs].filter(([key]) => key.startsWith(`${id}/`)).map(([key, n]) => [key.slice(id.length + 1), n]),
    );

  function expectRightAnswer(reply: OrchestrateReply, id: string) {
    expect([reply.status, reply.error]).toEqual(["completed", undefined]);
    expect(reply.answer).toBe(EXPECTED_ANSWER);
    expect(reply.rounds).toBe(2);
    expect(reply.toolCalls.map((call) => call.status)).toEqual(["succeeded", "succeeded", "succeeded", "succeeded"]);
    expect(runsOf(id)).toEqual({ '"a"': 1, '"b"': 1, '"c"': 1, '["a","b","c"]': 1 });
  }

  it("killed with SIGKILL: another dispatcher goes on from the recorded turns, asks no turn again, runs no call twice", async () => {
    const pid = await startVictim();
    const id = `dispatcher-kill-${Date.now()}`;
    const reply = env.client.request({ id, prompt: id, model: "fake:three", options: { earlyDispatch: false } });
    // The second round is running: two turns are recorded and one round is done.
    let started = 0;
    for await (const event of env.client.events(id)) if (event.type === EventType.toolStarted && ++started === 4) break;
    process.kill(pid, "SIGKILL");
    const replacement = await env.stack.add(dispatcherActor(dispatcherConfig(env)));
    try {
      expectRightAnswer(await reply, id);
      expect(turnsAsked(id)).toEqual([0, 1, 2]);
    } finally {
      await replacement.stop();
    }
  }, 60_000);

  it("killed while the model still writes a turn whose first calls were handed on: they are taken over, not run again", async () => {
    const pid = await startVictim();
    const id = `dispatcher-kill-early-${Date.now()}`;
    const reply = env.client.request({ id, prompt: id, model: "fake:slow", options: { earlyDispatch: true } });
    let responded = false;
    for await (const event of env.client.events(id)) {
      if (event.type === EventType.modelResponded) responded = true;
      if (event.type === EventType.toolStarted) break;
    }
    expect(responded).toBe(false); // the call started while the model was still writing
    process.kill(pid, "SIGKILL");
    const replacement = await env.stack.add(dispatcherActor(dispatcherConfig(env)));
    try {
      expectRightAnswer(await reply, id);
      // Only the turn in flight at the kill was asked again.
      expect(turnsAsked(id)).toEqual([0, 0, 1, 2]);
    } finally {
      await replacement.stop();
    }
  }, 60_000);

  it("killed before the request was queued: nothing is half-done, and the same id sent again runs", async () => {
    const pid = await startVictim();
    const id = `dispatcher-kill-unqueued-${Date.now()}`;
    const input = { id, prompt: id, model: "fake:three", options: { earlyDispatch: false, timeoutMs: 60_000 } };
    // With no requests stream, the front door keeps trying to queue the request until it is killed.
    await (await jetstreamManager(env.admin)).streams.delete(STREAMS.requests.name);
    await expect(env.client.request(input, { waitMs: 1_500 })).rejects.toBeInstanceOf(ReplyTimeoutError);
    process.kill(pid, "SIGKILL");
    await provisionAsAdmin(env.nats, 1); // the admin makes the stream again; a dispatcher may not
    const replacement = await env.stack.add(dispatcherActor(dispatcherConfig(env)));
    try {
      // The client sends it again, as a client that heard nothing should: it is run once, from the start.
      expectRightAnswer(await env.client.request(input, { waitMs: 20_000 }), id);
      expect(turnsAsked(id)).toEqual([0, 1, 2]);
    } finally {
      await replacement.stop();
    }
  }, 60_000);

  it("stopped with SIGTERM: it hands the request back within seconds, and no turn is asked twice", async () => {
    const pid = await startVictim();
    const id = `dispatcher-term-${Date.now()}`;
    const reply = env.client.request({ id, prompt: id, model: "fake:three", options: { earlyDispatch: false } });
    for await (const event of env.client.events(id)) if (event.type === EventType.toolStarted) break;
    const exited = new Promise<number>((resolve) => {
      const signalled = Date.now();
      const poll = setInterval(() => {
        if (isAlive(pid)) return;
        clearInterval(poll);
        resolve(Date.now() - signalled);
      }, 50);
    });
    process.kill(pid, "SIGTERM");
    const replacement = await env.stack.add(dispatcherActor(dispatcherConfig(env)));
    try {
      // The first round's calls run 1.5 s, the request 5 s: the stop must not wait for either.
      expect(await exited).toBeLessThan(3_000);
      expectRightAnswer(await reply, id);
      expect(turnsAsked(id)).toEqual([0, 1, 2]);
    } finally {
      await replacement.stop();
    }
  }, 60_000);

  it("stopped with SIGTERM while a repeat of the request waits at its front door: another front door answers it", async () => {
    const pid = await startVictim();
    const id = `dispatcher-term-repeat-${Date.now()}`;
    const input = { id, prompt: id, model: "fake:three", options: { earlyDispatch: false } };
    const reply = env.client.request(input);
    for await (const event of env.client.events(id)) if (event.type === EventType.toolStarted) break;
    // The same id again, from a new inbox (a client that gave up waiting): it waits for the one run's
    // reply at the only front door, the one about to stop.
    const repeat = env.client.request(input, { waitMs: 30_000 });
    await sleep(1_000);
    // A rolling update: the new copy serves before the old one is told to stop.
    const replacement = await env.stack.add(dispatcherActor(dispatcherConfig(env)));
    process.kill(pid, "SIGTERM");
    try {
      expectRightAnswer(await reply, id);
      expect(await repeat).toEqual(await reply);
      expect(turnsAsked(id)).toEqual([0, 1, 2]);
    } finally {
      await replacement.stop();
    }
  }, 60_000);
});

function dispatcherConfig(env: TestEnvironment) {
  return {
    maxConcurrentRequests: 100,
    fakeLlmUrl: env.fake.url,
    modelLimits: {},
    speculationDefault: "off" as const,
    tenantPolicies: {},
  };
}
