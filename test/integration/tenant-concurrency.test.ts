import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { EventType, rateLimitLineOf, RateLimitsConfigSchema, type OrchestrateEvent } from "@toolformer/protocol";
import { ownerOf, rateLimiterActor } from "@toolformer/rate-limiter";
import { defineTool } from "@toolformer/tools";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";
import { mostAtOnce } from "../support/most-at-once.ts";

/**
 * Per-tenant concurrency caps (docs/rate-limits.md#concurrency-caps, ADR 0026) on real NATS, with three
 * rate-limiter copies and two executors: the tools themselves record when each call ran, by tenant.
 */
const LIMITERS = ["limiter-1", "limiter-2", "limiter-3"];
const SHARED_CAP = 5;
/** Every tenant's cap (A's, quiet's), but B's and flood's. */
const TENANT_CAP = 2;
const CAPS = { B: 3, flood: 4 };
const TENANT_CAPS = { maxConcurrent: TENANT_CAP, maxConcurrentByTenant: CAPS };
const TENANT_CAP_KEY = (tenant: string) => `concurrency:config:tenant-calls:${tenant}`;

/** Three tools whose lines the three copies own, one each: a tenant's calls are decided on every copy. */
const TOOLS = LIMITERS.map((limiter) => {
  for (let i = 0; ; i++) {
    const name = `capped_${i}`;
    if (ownerOf(rateLimitLineOf({ kind: "tool", name }), LIMITERS) === limiter) return name;
  }
});

/** A call as its tool saw it run; labels begin with the tenant's phase of the test ("a3", "quiet1"). */
interface Run {
  label: string;
  start: number;
  end?: number;
}
const runs: Run[] = [];
const ArgsSchema = z.object({
  label: z.string(),
  ms: z.int().min(0),
  outcome: z.enum(["ok", "fail", "hang"]).default("ok"),
});
const tools = TOOLS.map((name) =>
  defineTool({
    name,
    description: "Sleeps, fails or hangs until aborted, recording when it ran.",
    parameters: ArgsSchema,
    idempotent: false,
    async run({ label, ms, outcome }, ctx) {
      const run: Run = { label, start: Date.now() };
      runs.push(run);
      try {
        if (outcome === "fail") throw new Error("failing on purpose");
        if (outcome === "hang") await new Promise((_, reject) => ctx.signal.addEventListener("abort", reject));
        await sleep(ms, undefined, { signal: ctx.signal });
        return label;
      } finally {
        run.end = Date.now();
      }
    },
  }),
);

/** `count` calls labelled `label<i>`, spread over the tools `over`. */
const calls = (label: string, count: number, ms: number, over = TOOLS, outcome = "ok") =>
  Array.from({ length: count }, (_, i) => ({
    name: over[i % over.length]!,
    arguments: { label: `${label}${i}`, ms, outcome },
  }));
const oneTurn = (toolCalls: ReturnType<typeof calls>) => ({ turns: [{ toolCalls }, { text: "done" }] });

const ranBy = (label: string) => runs.filter((run) => run.label.startsWith(label));
const spans = (label: string) => ranBy(label).map(({ start, end }) => ({ start, end: end ?? Infinity }));
/** Waits (bounded) until `count` calls of `label` run at the same time. */
const runningAtOnce = (label: string, count: number) =>
  vi.waitFor(() => expect(ranBy(label).filter((run) => run.end === undefined)).toHaveLength(count), {
    timeout: 5_000,
    interval: 5,
  });

describe("per-tenant concurrency caps across three limiter copies", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      tools,
      copies: { rateLimiter: LIMITERS.length, executor: 2 },
      rateLimiterIds: LIMITERS,
      maxConcurrentCalls: SHARED_CAP,
      rateLimits: {
        scopes: [
          {
            name: "tenant-calls",
            perTenant: true,
            ...TENANT_CAPS,
            match: { kind: "tool" },
          },
        ],
      },
      waitForTools: TOOLS,
      scenarios: {
        a: oneTurn(calls("a", 12, 250)),
        b: oneTurn(calls("b", 12, 250)),
        // One tool: the flood and the quiet tenant wait in one line, where tenants take turns.
        flood: oneTurn(calls("flood", 24, 200, [TOOLS[0]!])),
        quiet: oneTurn(calls("quiet", 4, 200, [TOOLS[0]!])),
        failing: oneTurn(calls("failing", 2, 0, TOOLS, "fail")),
        hanging: oneTurn(calls("hanging", 2, 0, TOOLS, "hang")),
        cancelled: oneTurn(calls("cancelled", 2, 0, TOOLS, "hang")),
        after: oneTurn(calls("after", 4, 200)),
        before: oneTurn(calls("before", 2, 600)),
        changed: oneTurn(calls("changed", 2, 200)),
      },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  const eventsOf = async (id: string) => {
    const events: OrchestrateEvent[] = [];
    for await (const event of env.client.events(id)) events.push(event);
    return events;
  };

  it("runs each tenant's calls exactly up to its cap, never more, and says so in tool.started", async () => {
    const id = (tenant: string) => `caps-${tenant}-${Date.now()}`;
    const [idA, idB] = [id("A"), id("B")];
    const replies = await Promise.all([
      env.client.request({ id: idA, prompt: "x", model: "fake:a", options: { tenant: "A" } }),
      env.client.request({ id: idB, prompt: "x", model: "fake:b", options: { tenant: "B" } }),
    ]);
    for (const reply of replies) {
      expect(reply.status).toBe("completed");
      expect(reply.toolCalls.map((call) => call.status)).toEqual(Array(12).fill("succeeded"));
    }
    console.info(`tenant caps: A at most ${mostAtOnce(spans("a"))} at once, B ${mostAtOnce(spans("b"))}`);
    expect(mostAtOnce(spans("a"))).toBe(TENANT_CAP);
    expect(mostAtOnce(spans("b"))).toBe(CAPS.B);

    const started = (await eventsOf(idA)).filter((event) => event.type === EventType.toolStarted);
    expect(started).toHaveLength(12);
    const waitedFor = started.map((event) => event.waitedFor ?? []);
    const heldByOwnCap = waitedFor.filter((scopes) => scopes.includes(TENANT_CAP_KEY("A"))).length;
    console.info(`tenant caps: ${heldByOwnCap} of A's 12 calls say they waited for A's cap`);
    // What held A's calls back was A's own cap, or the shared one it fills with B: never B's cap.
    expect(heldByOwnCap).toBeGreaterThan(0);
    const ownOrShared = new Set([TENANT_CAP_KEY("A"), "concurrency:all"]);
    expect(waitedFor.flat().filter((scope) => !ownOrShared.has(scope))).toEqual([]);
  });

  it("lets a quiet tenant take turns with a flood for the full shared cap", async () => {
    const flood = env.client.request({ prompt: "x", model: "fake:flood", options: { tenant: "flood" } });
    await runningAtOnce("flood", CAPS.flood);
    const quiet = await env.client.request({ prompt: "x", model: "fake:quiet", options: { tenant: "quiet" } });
    const flooded = await flood;
    expect([quiet.status, flooded.status]).toEqual(["completed", "completed"]);
    const [floodAtOnce, quietAtOnce] = [mostAtOnce(spans("flood")), mostAtOnce(spans("quiet"))];
    console.info(`tenant caps: flood at most ${floodAtOnce} at once, quiet ${quietAtOnce}`);
    expect(floodAtOnce).toBe(CAPS.flood);
    expect(mostAtOnce([...spans("flood"), ...spans("quiet")])).toBe(SHARED_CAP);
    // The flood holds 4 of 5 places: the quiet tenant's second place is one the flood gave back, which
    // it had only by its turn (first come, first served would give every freed place to the flood).
    expect(quietAtOnce).toBe(TENANT_CAP);
    // Not starved: the quiet tenant was done before the flood's backlog was.
    const lastQuietEnd = Math.max(...ranBy("quiet").map((run) => run.end!));
    const floodStartsAfter = ranBy("flood").filter((run) => run.start > lastQuietEnd).length;
    console.info(`tenant caps: ${floodStartsAfter} of the flood's 24 calls started after the quiet tenant was done`);
    expect(floodStartsAfter).toBeGreaterThan(0);
  });

  it("gives a tenant's places back whatever the outcome: failed, timed out, cancelled", async () => {
    const failing = await env.client.request({ prompt: "x", model: "fake:failing", options: { tenant: "A" } });
    expect(failing.toolCalls.map((call) => call.status)).toEqual(["failed", "failed"]);
    const hanging = await env.client.request({
      prompt: "x",
      model: "fake:hanging",
      options: { tenant: "A", timeoutMs: 1_000 },
    });
    expect(hanging.toolCalls.map((call) => call.status)).toEqual(["timeout", "timeout"]);
    const id = `caps-cancelled-${Date.now()}`;
    const cancelled = env.client.request({ id, prompt: "x", model: "fake:cancelled", options: { tenant: "A" } });
    await runningAtOnce("cancelled", TENANT_CAP);
    await env.client.cancel(id);
    expect((await cancelled).toolCalls.map((call) => call.status)).toEqual(["cancelled", "cancelled"]);
    expect(ranBy("cancelled").every((run) => run.end !== undefined)).toBe(true);

    // A place kept by any of them would hold its lease for ten minutes: A could not run two at once.
    const after = await env.client.request({
      prompt: "x",
      model: "fake:after",
      options: { tenant: "A", timeoutMs: 10_000 },
    });
    expect(after.toolCalls.map((call) => call.status)).toEqual(Array(4).fill("succeeded"));
    expect(mostAtOnce(spans("after"))).toBe(TENANT_CAP);
  });

  // Last: the fourth limiter copy it starts takes a share of the lines.
  it("takes a changed file's cap for new calls, while calls running give back what they took", async () => {
    const before = env.client.request({ prompt: "x", model: "fake:before", options: { tenant: "C" } });
    await runningAtOnce("before", TENANT_CAP);
    // What an operator does: a limiter copy restarted with another file publishes it.
    const lowered = { ...TENANT_CAPS, maxConcurrent: 1 };
    await env.stack.add(
      rateLimiterActor({
        rateLimits: RateLimitsConfigSchema.parse({ scopes: [{ name: "tenant-calls", perTenant: true, ...lowered }] }),
        agingMs: 1_000,
      }),
    );
    const changed = await env.client.request({ prompt: "x", model: "fake:changed", options: { tenant: "C" } });
    expect((await before).toolCalls.map((call) => call.status)).toEqual(["succeeded", "succeeded"]);
    expect(changed.toolCalls.map((call) => call.status)).toEqual(["succeeded", "succeeded"]);
    // The two running calls held two places of a cap now 1: none is free before both have ended.
    const lastBeforeEnd = Math.max(...ranBy("before").map((run) => run.end!));
    expect(Math.min(...ranBy("changed").map((run) => run.start))).toBeGreaterThanOrEqual(lastBeforeEnd);
    expect(mostAtOnce(spans("changed"))).toBe(1);
  });
});
