/**
 * Issue 18, item 4: how much of a tool's rate limit the whole stack uses. Three requests, each with
 * UTILIZATION_CALLS calls of a remote (NATS micro) tool limited to 50 per second (sliding window), sent
 * at once; the tool, in a process of its own, records when each call reaches it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ToolformerClient } from "@toolformer/client";
import { waitForActors } from "@toolformer/cli";
import { maxInAnyWindow, type NatsServer } from "@toolformer/testing";
import { LIMITED_TOOL, LIMITED_TOOL_LIMIT } from "./limited-tool.ts";
import { summarizeProfiles, type ProfileSummary } from "./profile.ts";
import { spawnBenchActors, startFakeLlmProcess, startNatsProcess, NATS_PROCESSES } from "./services.ts";
import { utilizationOf, type Utilization } from "./utilization.ts";

export const UTILIZATION_REQUESTS = 3;
export const UTILIZATION_CALLS = 50;
/**
 * Runs before the measured ones, reported apart. A freshly started stack gets faster run by run: in
 * five invocations of 2026-12-05 the first two runs read 0.82–0.88 (their first 50 calls reached the
 * tool over 124–332 ms) and the third 0.90–0.92 (85–163 ms), likely the actors' hot code being
 * optimized. The measured runs are a long-running stack's, as a deployment's are; the warm-ups are
 * printed and kept beside them.
 */
export const UTILIZATION_WARM_UPS = 3;
const SCENARIO = "limited";

export interface UtilizationRun extends Utilization {
  calls: number;
  /** From sending the requests to the tool's first start (the model's turn and the hand-offs). */
  firstStartMs: number;
  /**
   * The most starts in any window of the limit's interval as the executors recorded them (each call's
   * `startedAt`, taken with its permit): the stack's own count, before the hop to the tool.
   */
  maxInWindowAtExecutors: number;
  /** The machine's load average over the last minute when the run began (other work on shared cores). */
  loadAverage: number;
  /** Every start, ms after the first, in order: where a slow run lost its time. */
  startsMs: number[];
  /** Every start as the executors took it (each call's `startedAt`), ms after the tool's first. */
  executorStartsMs: number[];
}

/**
 * `runs` runs of the workload on one stack (one copy of each actor, as `toolformer up` starts it), after
 * UTILIZATION_WARM_UPS warm-up runs of the same (reported apart), each after the last one's window has emptied.
 */
export async function limiterUtilization(
  nats: NatsServer,
  runs: number,
  { profileDir }: { profileDir?: string } = {},
): Promise<{ warmUps: UtilizationRun[]; runs: UtilizationRun[]; profiles?: Record<string, ProfileSummary> }> {
  const work = mkdtempSync(join(tmpdir(), "toolformer-bench-utilization-"));
  const turn = Array.from({ length: UTILIZATION_CALLS }, (_, n) => ({ name: LIMITED_TOOL, arguments: { n } }));
  const fake = await startFakeLlmProcess({ [SCENARIO]: { turns: [{ toolCalls: turn }, { text: "done" }] } }, work);
  const copies = { dispatcher: 1, scheduler: 1, "rate-limiter": 1, speculation: 1, executor: 1 };
  const actors = spawnBenchActors(
    nats,
    fake.url,
    copies,
    { TF_EXECUTOR_TOOLS: "", TF_EXECUTOR_REMOTE_TOOLS: "true" },
    profileDir === undefined ? {} : { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] },
  );
  const starts: number[] = [];
  const tool = await startNatsProcess(NATS_PROCESSES.limited, nats.url, nats.credentials("tool-provider"), (line) =>
    starts.push(Number(line)),
  );
  try {
    await waitForActors(nats.url, copies, 30_000, nats.credentials("admin"));
    const client = await ToolformerClient.connect(nats.url, "bench-utilization", nats.credentials("client"));
    while (!(await client.tools()).tools.some((t) => t.name === LIMITED_TOOL)) await sleep(100);
    const run = async (): Promise<UtilizationRun> => {
      starts.length = 0;
      const loadAverage = loadavg()[0]!;
      const sentAt = Date.now();
      const replies = await Promise.all(
        Array.from({ length: UTILIZATION_REQUESTS }, () =>
          client.request({ prompt: "go", model: `fake:${SCENARIO}`, tools: [LIMITED_TOOL] }),
        ),
      );
      for (const reply of replies)
        if (reply.status !== "completed") throw new Error(`utilization: a request ${reply.status}`);
      // The tool writes each start before it answers; its lines may still be in the pipe.
      const calls = UTILIZATION_REQUESTS * UTILIZATION_CALLS;
      for (let waited = 0; starts.length < calls && waited < 1_000; waited += 10) await sleep(10);
      const { limit, intervalMs } = LIMITED_TOOL_LIMIT;
      const measured = utilizationOf(starts, limit, intervalMs);
      const startedAt = replies.flatMap((reply) => reply.toolCalls.flatMap((call) => call.startedAt ?? []));
      const maxInWindowAtExecutors = maxInAnyWindow(
        startedAt.sort((a, b) => a - b),
        intervalMs,
      );
      const first = Math.min(...starts);
      const startsMs = starts.map((at) => at - first).sort((a, b) => a - b);
      // The next run starts with an empty window, as the first did.
      await sleep(LIMITED_TOOL_LIMIT.intervalMs + 500);
      const firstStartMs = first - sentAt;
      const executorStartsMs = startedAt.map((at) => at - first);
      return {
        ...measured,
        maxInWindowAtExecutors,
        calls: starts.length,
        firstStartMs,
        loadAverage,
        startsMs,
        executorStartsMs,
      };
    };
    // Each actor loads what a remote call needs on the first run, and optimizes its hot code over the next.
    const warmUps: UtilizationRun[] = [];
    for (let i = 0; i < UTILIZATION_WARM_UPS; i++) warmUps.push(await run());
    const results: UtilizationRun[] = [];
    for (let i = 0; i < runs; i++) results.push(await run());
    await client.close();
    await actors.stop();
    // Each actor writes its profile as it exits; the warm-ups are in it too.
    const profiles =
      profileDir === undefined
        ? undefined
        : summarizeProfiles(profileDir, new Map(actors.pids().map(({ name, pid }) => [pid, name])));
    return { warmUps, runs: results, ...(profiles ? { profiles } : {}) };
  } finally {
    await tool.stop();
    await actors.stop();
    await fake.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
