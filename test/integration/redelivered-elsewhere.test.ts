import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { ActorProcesses } from "@toolformer/cli";
import { CallClaims } from "@toolformer/executor";
import { CONSUMERS, KV_BUCKETS, STREAMS, type ExecCall } from "@toolformer/protocol";
import { startNatsServer } from "@toolformer/testing";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";
import { spawnModuleExecutors } from "../support/module-executors.ts";
import { startsIn } from "../support/counted-tool.ts";

const CALLS = 8;
const TOOL_MS = 3_000;
/** The executors' ack wait: a copy that cannot ack for this long has its calls delivered to the other. */
const ACK_WAIT_MS = 1_000;
/** How long the copy running the calls is frozen: past its ack wait, within its claims' lease. */
const FROZEN_MS = 4_000;
const TOOL_MODULE = fileURLToPath(new URL("../support/counted-tool.ts", import.meta.url));

/**
 * Issue 15: a call with side effects delivered again to another copy while its first copy still runs
 * it. A copy that cannot ack (here frozen with SIGSTOP; in the field a consumer leader elected after a
 * node died, which knows no progress acks, or a copy cut off from the servers) has its calls delivered
 * to another; that copy must not start their tools a second time.
 */
describe("calls with side effects delivered again to another executor while the first still runs them", () => {
  let env: TestEnvironment;
  let executors: ActorProcesses;
  let dir: string;
  let countFile: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "toolformer-redelivered-"));
    countFile = join(dir, "starts");
    env = await startEnvironment({
      copies: { executor: 0 },
      waitForTools: [],
      scenarios: {
        slow: {
          turns: [
            {
              toolCalls: Array.from({ length: CALLS }, (_, i) => ({
                id: `c${i}`,
                name: "counted_work",
                arguments: { ms: TOOL_MS, value: `v${i}` },
              })),
            },
            { text: "all done" },
          ],
        },
      },
    });
    executors = await spawnModuleExecutors(env, {
      copies: 2,
      toolModule: TOOL_MODULE,
      tools: ["counted_work"],
      extra: { TF_EXECUTOR_ACK_WAIT_MS: String(ACK_WAIT_MS), COUNT_FILE: countFile },
    });
  });
  afterAll(async () => {
    for (const copy of executors?.running() ?? []) process.kill(copy.pid, "SIGCONT");
    await executors?.stop();
    await env?.[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  });

  it("waits for the first copy's results and starts no tool twice", async () => {
    const reply = env.client.request({
      prompt: "x",
      model: "fake:slow",
      options: { maxParallel: CALLS, earlyDispatch: false, timeoutMs: 30_000 },
    });
    while (startsIn(countFile).length < CALLS) await sleep(10);
    const starts = startsIn(countFile);
    const busiest = executors
      .running()
      .map((copy) => ({ copy, started: starts.filter((s) => s.pid === copy.pid).length }))
      .sort((a, b) => b.started - a.started)[0]!;

    process.kill(busiest.copy.pid, "SIGSTOP");
    // Seen from the server, not from the code under test: the frozen copy's calls were delivered again.
    const jsm = await jetstreamManager(env.admin);
    let redelivered = 0;
    const frozenUntil = Date.now() + FROZEN_MS;
    while (Date.now() < frozenUntil) {
      const info = await jsm.consumers.info(STREAMS.exec.name, CONSUMERS.executorForTool("counted_work"));
      redelivered = Math.max(redelivered, info.num_redelivered);
      await sleep(100);
    }
    process.kill(busiest.copy.pid, "SIGCONT");

    const answered = await reply;
    expect(redelivered).toBeGreaterThanOrEqual(busiest.started);
    expect(answered.status).toBe("completed");
    expect(answered.toolCalls.map((call) => [call.id, call.status, call.result])).toEqual(
      Array.from({ length: CALLS }, (_, i) => [`c${i}`, "succeeded", { value: `v${i}` }]),
    );
    // The tool's own record: every call started once, by the copy it was first given to.
    const after = startsIn(countFile);
    expect(after.map((s) => s.callId).sort()).toEqual(answered.toolCalls.map((call) => call.id).sort());
    expect(after.filter((s) => s.pid === busiest.copy.pid)).toHaveLength(busiest.started);
  }, 40_000);
});

describe("call claims on a real server", () => {
  it("lets exactly one of many concurrent runs take a call, and another take it once it is let go", async () => {
    await using server = await startNatsServer();
    const nc = await server.connect("admin");
    try {
      const kv = await new Kvm(nc).open(KV_BUCKETS.callClaims);
      const copies = ["x1", "x2", "x3"].map(
        (actorId) => new CallClaims({ js: jetstream(nc), kv: { callClaims: kv }, actorId }),
      );
      const call = { requestId: "r.1", callId: "c1", deadline: Date.now() + 30_000 } as ExecCall;
      const runs = Array.from({ length: 12 }, (_, i) => `run-${i}`);
      const outcomes = await Promise.all(runs.map((run, i) => copies[i % 3]!.claim(call, run)));
      const taken = outcomes.flatMap((outcome, i) => (outcome.kind === "taken" ? [{ run: runs[i]!, outcome }] : []));
      expect(taken).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome.kind === "held")).toHaveLength(runs.length - 1);

      const [winner] = taken;
      const holder = copies[runs.indexOf(winner!.run) % 3]!;
      const renewed = await holder.renew(call, winner!.run, (winner!.outcome as { revision: number }).revision);
      expect(renewed).not.toBeNull();
      // A stale revision is another run's write: the renewal says the claim was lost. (The same write in
      // the same millisecond would be the renewal's own retry, deduplicated by its message id.)
      await sleep(5);
      expect(await holder.renew(call, winner!.run, 1)).toBeNull();
      expect(await copies[0]!.claim(call, "late-run")).toMatchObject({ kind: "held" });
      await holder.release(call, winner!.run, renewed!);
      expect(await copies[0]!.claim(call, "late-run")).toMatchObject({ kind: "taken" });
    } finally {
      await nc.close();
    }
  });
});
