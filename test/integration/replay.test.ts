/**
 * Replay without the model (ADR 0027), as a user runs it: `toolformer replay <id>` against a stack on a
 * real nats-server. What it claims is checked from outside the orchestrator: the fake model server's
 * log of every request it served, and the tools' own log of every run.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { natsAuthToEnv, ToolformerClient } from "@toolformer/client";
import {
  ErrorCode,
  INTERNAL_SUBJECTS,
  replaySubject,
  REPLAY_WILDCARD,
  STREAMS,
  tenantRequestId,
  type OrchestrateEvent,
} from "@toolformer/protocol";
import { defineTool } from "@toolformer/tools";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";
import { publishRefused, subscribeRefused } from "../support/denials.ts";

const CLI = fileURLToPath(new URL("../../packages/cli/bin/toolformer.mjs", import.meta.url));

/** Every run of the tools below, as the tools saw it. */
const runs: { requestId: string; callId: string; tool: string }[] = [];
/** What `replay_lookup` answers, by key: a test changes it to change the tool's behaviour. */
const values = new Map([
  ["a", 1],
  ["b", 2],
  ["c", 3],
  ["d", 4],
]);
const lookup = defineTool({
  name: "replay_lookup",
  description: "A value by key.",
  parameters: z.object({ key: z.string() }),
  readOnly: true,
  idempotent: true,
  async run({ key }, ctx) {
    runs.push({ requestId: ctx.requestId, callId: ctx.callId, tool: "replay_lookup" });
    return { key, value: values.get(key) ?? null };
  },
});
const double = defineTool({
  name: "replay_double",
  description: "Twice a number.",
  parameters: z.object({ x: z.number() }),
  idempotent: false,
  async run({ x }, ctx) {
    runs.push({ requestId: ctx.requestId, callId: ctx.callId, tool: "replay_double" });
    return { doubled: 2 * x };
  },
});

const call = (id: string, name: string, args: object) => ({ id, name, arguments: args });
/** Two turns of calls, the first three in parallel, the second's second taking the first's result; then the answer. */
const ledger = {
  turns: [
    {
      toolCalls: [
        call("l1", "replay_lookup", { key: "a" }),
        call("l2", "replay_lookup", { key: "b" }),
        call("l3", "replay_lookup", { key: "c" }),
      ],
    },
    {
      toolCalls: [call("l4", "replay_lookup", { key: "d" }), call("l5", "replay_double", { x: { $ref: "l4#/value" } })],
    },
    { text: "a+b+c is 6, and twice d is 8" },
  ],
};

describe("replay without the model", () => {
  let env: TestEnvironment;
  const modelCalls = () => env.fake.received.filter((request) => request.scenario === "ledger").length;

  const cli = async (args: string[]): Promise<{ code: number; out: string; err: string }> => {
    const options = {
      env: { PATH: process.env.PATH, NATS_URL: env.natsUrl, ...natsAuthToEnv(env.nats.credentials("client")) },
      timeout: 30_000,
    };
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], options);
      return { code: 0, out: stdout, err: stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, out: failed.stdout, err: failed.stderr };
    }
  };

  beforeAll(async () => {
    env = await startEnvironment({
      tenants: ["acme", "globex"],
      tools: [lookup, double],
      waitForTools: ["replay_lookup", "replay_double"],
      scenarios: { ledger },
    });
  }, 60_000);
  afterAll(async () => env?.[Symbol.asyncDispose]());

  const ask = (client: ToolformerClient, id: string) =>
    client.request({ id, prompt: "sum them", model: "fake:ledger", tools: ["replay_lookup", "replay_double"] });

  it("replays a finished request with no model call: the same calls run again, as recorded; a changed tool shows in the diff; --dry-run runs nothing", async () => {
    const id = `replay-${Date.now()}`;
    const jsm = await jetstreamManager(env.admin);
    const reply = await ask(env.client, id);
    expect(reply.status).toBe("completed");
    expect(reply.toolCalls.map((c) => [c.id, c.status])).toEqual([
      ["l1", "succeeded"],
      ["l2", "succeeded"],
      ["l3", "succeeded"],
      ["l4", "succeeded"],
      ["l5", "succeeded"],
    ]);
    expect(modelCalls()).toBe(3);
    expect(runs.filter((run) => run.requestId === id)).toHaveLength(5);

    // Nothing changed: the replay matches, and the model was not asked.
    const same = await cli(["replay", id]);
    expect(same.code, same.err).toBe(0);
    const replayId = /^replay of \S+ as (\S+): no difference$/m.exec(same.out)?.[1];
    expect(replayId, same.out).toBeDefined();
    expect(same.out).toContain(`= replay_lookup [l4] {"key":"d"} → {"key":"d","value":4}`);
    expect(same.out).toContain(`= replay_double [l5] {"x":4} → {"doubled":8}`);
    expect(same.out).toContain(`answer: as recorded ("a+b+c is 6, and twice d is 8")`);
    expect(modelCalls()).toBe(3);
    // Every call ran again, against the tools, under the replay's own id.
    const replayed = runs.filter((run) => run.requestId === replayId);
    expect(replayed.map((run) => run.callId).sort()).toEqual(["l1", "l2", "l3", "l4", "l5"]);
    // The replay's events are a request's, whose model turns spent no tokens.
    const events: OrchestrateEvent[] = [];
    for await (const event of env.client.events(replayId!)) events.push(event);
    expect(events.at(-1)).toMatchObject({ type: "request.completed", status: "completed", rounds: 2 });
    expect(events.filter((event) => event.type === "model.responded").map((event) => event.usage)).toEqual([
      { inputTokens: 0, outputTokens: 0 },
      { inputTokens: 0, outputTokens: 0 },
      { inputTokens: 0, outputTokens: 0 },
    ]);
    // The speculation engine learned from the request, and not again from its replay.
    const learned = async (requestId: string) =>
      (await jsm.streams.getMessage(STREAMS.speculation.name, {
        last_by_subj: INTERNAL_SUBJECTS.speculationLearn(requestId),
      })) !== null;
    expect(await learned(id)).toBe(true);
    expect(await learned(replayId!)).toBe(false);

    // The tool answers otherwise now: its call shows, and so does the call that took its result.
    values.set("d", 40);
    const changed = await cli(["replay", id]);
    expect(changed.code, changed.err).toBe(5);
    expect(changed.out).toMatch(/^replay of \S+ as \S+: 2 calls differ$/m);
    expect(changed.out).toContain(`= replay_lookup [l2] {"key":"b"} → {"key":"b","value":2}`);
    expect(changed.out).toContain(`≠ replay_lookup [l4] result: {"key":"d","value":4} → {"key":"d","value":40}`);
    expect(changed.out).toContain(
      `≠ replay_double [l5] args: {"x":4} → {"x":40}; result: {"doubled":8} → {"doubled":80}`,
    );
    // The answer was written after those results: used as recorded, and flagged.
    expect(changed.out).toContain("! turn 3 was recorded after results that changed");
    expect(changed.out).toContain("answer: as recorded");
    expect(modelCalls()).toBe(3);

    // A dry run shows the recorded timeline (the results as they were) and runs nothing.
    const before = runs.length;
    const dry = await cli(["replay", id, "--dry-run"]);
    expect(dry.code, dry.err).toBe(0);
    expect(dry.out.split("\n")).toEqual(
      expect.arrayContaining([
        `recorded ${id} (fake:ledger): completed, 3 turns`,
        expect.stringMatching(/^turn 1 {2}\d+ ms, \d+\/\d+ tokens, 3 calls$/),
        `  replay_lookup [l1] {"key":"a"} → {"key":"a","value":1}`,
        expect.stringMatching(/^turn 2 {2}\d+ ms, \d+\/\d+ tokens, 2 calls$/),
        `  replay_lookup [l4] {"key":"d"} → {"key":"d","value":4}`,
        // A call's record shows the arguments it ran with, its references replaced.
        `  replay_double [l5] {"x":4} → {"doubled":8}`,
        expect.stringMatching(/^turn 3 /),
        "answer: a+b+c is 6, and twice d is 8",
      ]),
    );
    expect(runs.length).toBe(before);
    expect(modelCalls()).toBe(3);
    values.set("d", 4);
  }, 60_000);

  it("says clearly when a request cannot be replayed: unknown, or its records gone", async () => {
    const unknown = await cli(["replay", "no-such-request"]);
    expect(unknown.code).toBe(4);
    expect(unknown.err).toContain("not replayed: NOT_REPLAYABLE no request no-such-request is known");

    // Its turns gone from the rounds stream (as when they expire), its reply still kept: expired.
    const id = `replay-expired-${Date.now()}`;
    expect((await ask(env.client, id)).status).toBe("completed");
    const jsm = await jetstreamManager(env.admin);
    await jsm.streams.purge(STREAMS.rounds.name, { filter: INTERNAL_SUBJECTS.roundTurn(id, 1) });
    expect(await env.client.replay(id)).toMatchObject({
      ok: false,
      error: { code: ErrorCode.NOT_REPLAYABLE, details: { reason: "expired" } },
    });
  }, 60_000);

  it("lets a tenant replay its own requests only, and no role but the client send replays", async () => {
    const acme = new ToolformerClient(await env.nats.connect({ tenant: "acme" }));
    const globex = new ToolformerClient(await env.nats.connect({ tenant: "globex" }));
    try {
      const id = `replay-tenant-${Date.now()}`;
      expect((await ask(acme, id)).status).toBe("completed");
      // The same id from globex names globex's request, which does not exist.
      expect(await globex.replay(id, { dryRun: true })).toMatchObject({
        ok: false,
        error: { code: ErrorCode.NOT_REPLAYABLE, details: { reason: "unknown" } },
      });
      const replay = await acme.replay(id);
      expect(replay).toMatchObject({ ok: true, recorded: { id }, diff: { same: true } });
      // The replay is acme's request too: its tools ran under acme's id for it.
      const replayId = replay.ok ? replay.replayId! : "";
      expect(runs.filter((run) => run.requestId === tenantRequestId("acme", replayId))).toHaveLength(5);
    } finally {
      await acme.close();
      await globex.close();
    }
    const viewer = await env.nats.connect("viewer");
    const provider = await env.nats.connect("tool-provider");
    try {
      expect(await publishRefused(viewer, replaySubject("anything"))).toBe(true);
      expect(await subscribeRefused(provider, REPLAY_WILDCARD)).toBe(true);
      expect(await publishRefused(env.client.nc, replaySubject("anything"))).toBe(false);
    } finally {
      await viewer.close();
      await provider.close();
    }
  }, 60_000);
});
