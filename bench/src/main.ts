/**
 * `npm run bench [-- --quick] [-- --profile]`: the orchestrator beside raw NATS, in-process
 * Promise.all and BullMQ, all measured in this one run on this machine; prints a table and writes
 * docs/benchmarks/latest.{json,svg} (quick runs write quick.{json,svg}).
 */
import { execSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ToolformerClient } from "@toolformer/client";
import { waitForActors } from "@toolformer/cli";
import { startNatsServer } from "@toolformer/testing";
import { summarizeProfiles } from "./profile.ts";
import { renderSvg, renderTable, runBenchmark, runInfo, writeResultFiles, type Row } from "./report.ts";
import { spawnBenchActors, startFakeLlmProcess, startRedis } from "./services.ts";
import { startBullMq } from "./systems/bullmq.ts";
import { startRawPipeline } from "./systems/raw-nats.ts";
import { CONCURRENCY, overhead, scaling, throughput, type Plan } from "./workloads.ts";

const PLANS: Record<"quick" | "full", Plan> = {
  quick: {
    overheadCalls: [1, 8, 64],
    overheadReps: 15,
    warmup: 3,
    throughputRequests: 400,
    throughputInFlight: 100,
    throughputCalls: 8,
    scalingLevels: [10, 100, 1000],
    scalingRequestsPerLevel: (n) => Math.max(200, 2 * n),
  },
  full: {
    overheadCalls: [1, 8, 64],
    overheadReps: 60,
    warmup: 10,
    throughputRequests: 2000,
    throughputInFlight: 200,
    throughputCalls: 8,
    scalingLevels: [10, 100, 1000],
    scalingRequestsPerLevel: (n) => Math.max(1000, 5 * n),
  },
};

function noopScenarios(calls: number[]): Record<string, unknown> {
  return Object.fromEntries(
    calls.map((k) => [
      `noop-${k}`,
      {
        turns: [
          { toolCalls: Array.from({ length: k }, (_, value) => ({ name: "echo", arguments: { value } })) },
          { text: "done" },
        ],
      },
    ]),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: "boolean", default: false }, profile: { type: "boolean", default: false } },
  });
  const mode = values.quick ? "quick" : "full";
  const plan = PLANS[mode];
  const work = mkdtempSync(join(tmpdir(), "toolformer-bench-"));
  const profileDir = join(work, "profiles");
  const started = Date.now();
  console.log(
    `benchmark (${mode}) on ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB${values.profile ? ", profiling the actors" : ""}`,
  );

  const nats = await startNatsServer();
  const redis = await startRedis();
  const fake = await startFakeLlmProcess(
    noopScenarios([...new Set([...plan.overheadCalls, plan.throughputCalls, 1])]),
    work,
  );
  const copies = { dispatcher: 1, scheduler: 1, "rate-limiter": 1, speculation: 1, executor: 1 };
  const actors = spawnBenchActors(
    nats,
    fake.url,
    copies,
    { TF_EXECUTOR_TOOLS: "echo" },
    {
      output: "inherit",
      ...(values.profile ? { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] } : {}),
    },
  );
  const cleanup = async () => {
    await actors.stop();
    await Promise.allSettled([fake.stop(), redis.stop(), nats.stop()]);
  };
  try {
    await waitForActors(nats.url, copies, 30_000, nats.credentials("admin"));
    const client = await ToolformerClient.connect(nats.url, "bench", nats.credentials("client"));
    while (!(await client.tools()).tools.some((t) => t.name === "echo"))
      await new Promise((resolve) => setTimeout(resolve, 100));
    const raw = await startRawPipeline(nats.url, nats.credentials("admin"));
    const bull = await startBullMq(redis.url, CONCURRENCY * 4);
    const systems = { natsUrl: nats.url, admin: nats.credentials("admin"), client, actors, raw, bull };
    const natsServerVersion = client.nc.info?.version ?? "";

    const rows: Row[] = [];
    console.log("overhead per call ...");
    rows.push(...(await overhead(systems, plan)));
    console.log("scaling and memory ...");
    const scaled = await scaling(systems, plan);
    rows.push(...scaled.rows);
    console.log("throughput ...");
    rows.push(...(await throughput(systems, plan)));

    console.log(`\n${renderTable(rows)}\n`);
    console.log(
      "memory (RSS, MiB): " +
        scaled.memory
          .map(
            (m) =>
              `${m.actor} ${(m.idleBytes / 2 ** 20).toFixed(0)} idle / ${(m.loadedBytes / 2 ** 20).toFixed(0)} at 1000 in flight`,
          )
          .join("; "),
    );
    console.log(`bytes per in-flight call: ${scaled.bytesPerInFlightCall.toFixed(0)}`);

    await raw.stop();
    await bull.stop();
    await client.close();
    await cleanup();
    const profiles = values.profile
      ? summarizeProfiles(profileDir, new Map(actors.pids().map(({ name, pid }) => [pid, name])))
      : undefined;
    const list = (spots: { where: string; selfPercent: number }[]) =>
      spots.map((s) => `  ${s.selfPercent.toFixed(1).padStart(5)}%  ${s.where}`).join("\n");
    for (const [actor, spots] of Object.entries(profiles ?? {})) {
      console.log(`\nCPU self time, ${actor}, by area:\n${list(spots.areas)}\nby function:\n${list(spots.functions)}`);
    }

    const result = {
      ...runInfo(mode, started),
      versions: {
        node: process.versions.node,
        natsServer: natsServerVersion,
        redis: execSync("redis-server --version", { encoding: "utf8" }).trim(),
      },
      concurrency: CONCURRENCY,
      plan: { ...plan, scalingRequestsPerLevel: plan.scalingLevels.map(plan.scalingRequestsPerLevel) },
      rows,
      memory: scaled.memory,
      bytesPerInFlightCall: scaled.bytesPerInFlightCall,
      ...(profiles ? { profiles } : {}),
    };
    const name = mode === "quick" ? "quick" : "latest";
    writeResultFiles(
      name,
      result,
      renderSvg(rows, `Orchestrator vs baselines (${mode}, ${cpus().length} cores, medians, log scale)`),
    );
    console.log(`done in ${result.durationSeconds} s`);
  } catch (error) {
    await cleanup();
    throw error;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

runBenchmark(main);
