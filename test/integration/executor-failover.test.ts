import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { ActorProcesses } from "@toolformer/cli";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";
import { spawnModuleExecutors } from "../support/module-executors.ts";

const CALLS = 300;
const TOOL_MODULE = fileURLToPath(new URL("../support/ledger-tool.ts", import.meta.url));
const lines = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : []);

describe("an executor killed with SIGKILL in the middle of 300 calls", () => {
  let env: TestEnvironment;
  let executors: ActorProcesses;
  let dir: string;
  let ledger: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "toolformer-ledger-"));
    ledger = join(dir, "ledger");
    env = await startEnvironment({
      copies: { executor: 0 },
      waitForTools: [],
      scenarios: {
        many: {
          turns: [
            { toolCalls: Array.from({ length: CALLS }, () => ({ name: "ledger_write", arguments: { ms: 200 } })) },
            { text: "all written" },
          ],
        },
      },
    });
    executors = await spawnModuleExecutors(env, {
      copies: 3,
      toolModule: TOOL_MODULE,
      tools: ["ledger_write"],
      extra: { LEDGER_FILE: ledger },
    });
  });
  afterAll(async () => {
    await executors?.stop();
    await env?.[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  });

  it("completes every call exactly once, and the ledger holds one entry per call", async () => {
    const reply = env.client.request({
      prompt: "x",
      model: "fake:many",
      options: { maxParallel: 60, earlyDispatch: false, timeoutMs: 60_000 },
    });
    // A copy with a call in flight (started, not yet written): killing one that holds none (slow to
    // start under a loaded suite) would cut nothing short.
    let victim: number | undefined;
    while (victim === undefined) {
      await sleep(10);
      if (lines(ledger).length < CALLS / 3) continue;
      const written = new Set(lines(ledger));
      const pids = new Set(executors.pids().map(({ pid }) => pid));
      victim = lines(`${ledger}.starts`)
        .map((start) => start.split(" "))
        .filter(([callId, pid]) => !written.has(callId!) && pids.has(Number(pid)))
        .map(([, pid]) => Number(pid))[0];
    }
    process.kill(victim, "SIGKILL");

    const answered = await reply;
    expect(answered.status).toBe("completed");
    expect(answered.answer).toBe("all written");
    expect(answered.toolCalls).toHaveLength(CALLS);
    expect(new Set(answered.toolCalls.map((call) => call.id)).size).toBe(CALLS);
    expect(answered.toolCalls.filter((call) => call.status !== "succeeded")).toEqual([]);

    const entries = lines(ledger);
    expect(entries).toHaveLength(CALLS);
    expect(new Set(entries)).toEqual(new Set(answered.toolCalls.map((call) => call.id)));
    // The kill really cut calls short: some started twice, on another executor.
    const starts = lines(`${ledger}.starts`);
    console.info(`executor failover: ${starts.length - CALLS} of ${CALLS} calls started again after the kill`);
    expect(starts.length).toBeGreaterThan(CALLS);
  }, 45_000);
});

describe("a call that takes down every executor that runs it", () => {
  let env: TestEnvironment;
  let executors: ActorProcesses;

  beforeAll(async () => {
    env = await startEnvironment({
      copies: { executor: 0 },
      waitForTools: [],
      scenarios: { crash: { turns: [{ toolCalls: [{ name: "crash_executor", arguments: {} }] }, { text: "told" }] } },
    });
    executors = await spawnModuleExecutors(env, {
      copies: 3,
      toolModule: fileURLToPath(new URL("../support/crash-tool.ts", import.meta.url)),
      tools: ["crash_executor"],
      extra: { TF_EXECUTOR_ACK_WAIT_MS: "1000", TF_EXECUTOR_MAX_DELIVER: "2" },
    });
  });
  afterAll(async () => {
    await executors?.stop();
    await env?.[Symbol.asyncDispose]();
  });

  it("is given up after its last delivery and fails with a clear error, and the model is told", async () => {
    const reply = await env.client.request({ prompt: "x", model: "fake:crash", options: { timeoutMs: 30_000 } });
    expect(reply.status).toBe("completed");
    expect(reply.answer).toBe("told");
    expect(reply.toolCalls[0]).toMatchObject({ status: "failed", error: { code: "TOOL_FAILED" } });
    expect(reply.toolCalls[0]?.error?.message).toContain("gave up after 2 deliveries");
  }, 30_000);
});
