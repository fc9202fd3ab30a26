import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ActorProcesses } from "@toolformer/cli";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";
import { spawnModuleExecutors } from "../support/module-executors.ts";
import { startsIn } from "../support/counted-tool.ts";

/** The executors' lease on a concurrency place: short, so a dead executor's place frees in seconds. */
const LEASE_MS = 1_500;
/** A call that runs three leases: without renewals its place would free while it runs. */
const LONG_CALL_MS = 3 * LEASE_MS;
const TOOL_MODULE = fileURLToPath(new URL("../support/counted-tool.ts", import.meta.url));

/**
 * Issue 15, ADR 0035: a concurrency place is leased briefly and renewed by the executor running its
 * call. Two executor processes share a cluster-wide cap of one call at once (`concurrency:all`).
 */
describe("concurrency places leased and renewed by the executor that runs the call", () => {
  let env: TestEnvironment;
  let executors: ActorProcesses;
  let dir: string;
  let countFile: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "toolformer-leases-"));
    countFile = join(dir, "starts");
    const work = (ms: number, value: string) => ({ name: "counted_work", arguments: { ms, value } });
    env = await startEnvironment({
      copies: { executor: 0 },
      waitForTools: [],
      scenarios: {
        twoLong: {
          turns: [{ toolCalls: [work(LONG_CALL_MS, "first"), work(LONG_CALL_MS, "second")] }, { text: "ok" }],
        },
        endless: { turns: [{ toolCalls: [work(120_000, "orphan")] }, { text: "never" }] },
        quick: { turns: [{ toolCalls: [work(10, "after")] }, { text: "done" }] },
      },
    });
    executors = await spawnModuleExecutors(env, {
      copies: 2,
      toolModule: TOOL_MODULE,
      tools: ["counted_work"],
      extra: { TF_MAX_CONCURRENT_CALLS: "1", TF_CONCURRENCY_LEASE_MS: String(LEASE_MS), COUNT_FILE: countFile },
    });
  }, 60_000);
  afterAll(async () => {
    await executors?.stop();
    await env?.[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps a long call's place for as long as it runs: the next call starts only once it ended", async () => {
    const reply = await env.client.request({ prompt: "x", model: "fake:twoLong", options: { timeoutMs: 30_000 } });
    expect(reply.status).toBe("completed");
    expect(reply.toolCalls.map((call) => call.status)).toEqual(["succeeded", "succeeded"]);
    const [first, second] = [...reply.toolCalls].sort((a, b) => a.startedAt! - b.startedAt!);
    // The place is given back after the first call's record: the second cannot have started before it.
    expect(second!.startedAt!).toBeGreaterThanOrEqual(first!.startedAt! + first!.durationMs);
  }, 40_000);

  it("frees the place of an executor killed while running a call within about a lease", async () => {
    const startsBefore = startsIn(countFile).length;
    const orphanId = `orphan-${Date.now()}`;
    const orphan = env.client.request({
      id: orphanId,
      prompt: "x",
      model: "fake:endless",
      options: { timeoutMs: 60_000 },
    });
    const start = await vi.waitFor(
      () => {
        const started = startsIn(countFile).slice(startsBefore);
        expect(started).toHaveLength(1);
        return started[0]!;
      },
      { timeout: 10_000, interval: 20 },
    );
    expect(executors.pids().map(({ pid }) => pid)).toContain(start.pid);
    process.kill(start.pid, "SIGKILL");
    // Cancelled, its call is never run again under the same holder: nothing gives the place back.
    await env.client.cancel(orphanId);
    expect((await orphan).status).toBe("cancelled");

    // With the old 10-minute lease this call would wait for the dead executor's place until it timed out.
    const after = await env.client.request({ prompt: "x", model: "fake:quick", options: { timeoutMs: 20_000 } });
    expect(after.status).toBe("completed");
    expect(after.toolCalls.map((call) => call.status)).toEqual(["succeeded"]);
  }, 40_000);
});
