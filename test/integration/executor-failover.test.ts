import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { spawnActors, waitForActors, type ActorProcesses } from "@toolformer/cli";
import { startEnvironment, waitForCatalog, type TestEnvironment } from "../support/environment.ts";

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
    executors = spawnActors(
      { executor: 3 },
      {
        ...process.env,
        NATS_URL: env.natsUrl,
        LOG_LEVEL: "error",
        TF_EXECUTOR_TOOLS: "",
        TF_EXECUTOR_REMOTE_TOOLS: "false",
        TF_EXECUTOR_TOOL_MODULES: TOOL_MODULE,
        LEDGER_FILE: ledger,
      },
      { output: "ignore" },
    );
    await waitForActors(env.natsUrl, { executor: 3 }, 20_000);
    await waitForCatalog(env.client, ["ledger_write"]);
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
    while (lines(ledger).length < CALLS / 3) await sleep(10);
    const [victim] = executors.pids();
    process.kill(victim!.pid, "SIGKILL");

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
