import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { waitForActors, type ActorCopy, type ActorProcesses } from "@toolformer/cli";
import type { ToolCallRecord } from "@toolformer/protocol";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";
import { spawnModuleExecutors } from "../support/module-executors.ts";
import { startsIn } from "../support/counted-tool.ts";

/** Calls running at once in the whole cluster: most of a round waits for a place at the executors. */
const CONCURRENT = 3;
const TOOL_MODULE = fileURLToPath(new URL("../support/counted-tool.ts", import.meta.url));

const calls = (tool: string, count: number, ms: number) =>
  Array.from({ length: count }, (_, i) => ({ id: `c${i}`, name: tool, arguments: { ms, value: `v${i}` } }));

describe("an executor stopped with SIGTERM while calls run and wait", () => {
  let env: TestEnvironment;
  let executors: ActorProcesses;
  let dir: string;
  let countFile: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "toolformer-shutdown-"));
    countFile = join(dir, "starts");
    env = await startEnvironment({
      copies: { executor: 0 },
      waitForTools: [],
      scenarios: {
        permits: { turns: [{ toolCalls: calls("counted_work", 60, 1_000) }, { text: "all done" }] },
        threads: { turns: [{ toolCalls: calls("counted_thread_work", 24, 1_000) }, { text: "all done" }] },
      },
    });
    executors = await spawnModuleExecutors(env, {
      copies: 2,
      toolModule: TOOL_MODULE,
      tools: ["counted_work", "counted_thread_work"],
      extra: {
        TF_EXECUTOR_MAX_IN_FLIGHT: "20",
        TF_EXECUTOR_WORKERS: "1",
        TF_MAX_CONCURRENT_CALLS: String(CONCURRENT),
        COUNT_FILE: countFile,
      },
    });
  });
  afterAll(async () => {
    await executors?.stop();
    await env?.[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts a request of `scenario`, and once `startsBefore` calls have started, SIGTERMs the copy that started most. */
  async function stopBusiestDuring(scenario: string, startsBefore: number) {
    rmSync(countFile, { force: true });
    const reply = env.client.request({
      prompt: "x",
      model: `fake:${scenario}`,
      options: { maxParallel: 100, earlyDispatch: false, timeoutMs: 90_000 },
    });
    while (startsIn(countFile).length < startsBefore) await sleep(20);
    const starts = startsIn(countFile);
    const victim: ActorCopy = executors
      .running()
      .map((copy) => ({ copy, started: starts.filter((s) => s.pid === copy.pid).length }))
      .sort((a, b) => b.started - a.started)[0]!.copy;
    const exit = await executors.signal(victim, "SIGTERM", 25_000);
    console.info(`executor stop (${scenario}): exited ${exit.code ?? exit.signal} after ${exit.afterMs} ms`);
    return { reply: await reply, exit, victim };
  }

  /** Every call succeeded with its own answer, and started exactly once. */
  function expectEachRanOnce(toolCalls: ToolCallRecord[], count: number) {
    expect(toolCalls.map((call) => [call.id, call.status, call.result])).toEqual(
      Array.from({ length: count }, (_, i) => [`c${i}`, "succeeded", { value: `v${i}` }]),
    );
    const starts = startsIn(countFile);
    expect(new Set(starts.map((s) => s.callId)).size).toBe(count);
    expect(starts).toHaveLength(count);
  }

  it("finishes its running calls, hands back those waiting for permits, and exits in seconds; nothing runs twice", async () => {
    // Some calls run, most wait for a place under the cap. The stopping copy still hears the answer to
    // the question it has at the limiter (at most the limiter's 5 s hold), so no place is left taken.
    const { reply, exit, victim } = await stopBusiestDuring("permits", 2 * CONCURRENT);
    expect(exit.forced).toBe(false);
    expect(exit.code).toBe(0);
    // Well inside Kubernetes' 30 s grace period, whatever the backlog it held.
    expect(exit.afterMs).toBeLessThan(10_000);
    expect(reply.status).toBe("completed");
    expect(reply.answer).toBe("all done");
    expectEachRanOnce(reply.toolCalls, 60);
    // The stopped copy had really taken work, and the other one did the rest.
    const starts = startsIn(countFile);
    expect(starts.filter((s) => s.pid === victim.pid).length).toBeGreaterThan(0);
    expect(starts.filter((s) => s.pid !== victim.pid).length).toBeGreaterThan(30);
  }, 120_000);

  it("hands back the calls waiting for a worker thread, and finishes the one on the thread", async () => {
    executors.add("executor");
    await waitForActors(env.natsUrl, { executor: 2 }, 20_000, env.nats.credentials("admin"));
    const { reply, exit } = await stopBusiestDuring("threads", 2);
    expect(exit.forced).toBe(false);
    expect(exit.code).toBe(0);
    expect(exit.afterMs).toBeLessThan(10_000);
    expect(reply.status).toBe("completed");
    expectEachRanOnce(reply.toolCalls, 24);
  }, 120_000);
});
