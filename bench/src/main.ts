/**
 * `npm run bench [-- --quick] [-- --profile] [-- --only agent,overhead,scaling,throughput]`: the
 * orchestrator beside a raw relay, raw NATS, in-process Promise.all and BullMQ, all measured in this
 * one run on this machine; prints tables and writes docs/benchmarks/latest.{json,svg} (quick runs
 * write quick.{json,svg}; a run of some workloads only writes partial-<mode>-<workloads>.{json,svg}).
 */
import { execSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { ToolformerClient } from "@toolformer/client";
import { waitForActors } from "@toolformer/cli";
import { startNatsServer } from "@toolformer/testing";
import { actorRss, agentRows, agentWorkload, renderAgentTables, type AgentPlan } from "./agent.ts";
import { AGENT_SCENARIO_FILE, AGENT_TOOL } from "./agent-scenario.ts";
import { describeProfiles, summarizeProfiles } from "./profile.ts";
import { chosenParts } from "./only.ts";
import { measureRelayFootprint } from "./relay-footprint.ts";
import { renderSvg, renderTable, runBenchmark, runInfo, writeResultFiles, type Row } from "./report.ts";
import { spawnBenchActors, startFakeLlmProcess, startRedis, startNatsProcess, NATS_PROCESSES } from "./services.ts";
import { startBullMq } from "./systems/bullmq.ts";
import { startRawPipeline } from "./systems/raw-nats.ts";
import { NOOP_TOOL, noopScenarios } from "./noop-scenario.ts";
import { startRawRelay } from "./systems/raw-relay.ts";
import { tracingOverhead, tracingSummary } from "./tracing-overhead.ts";
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

/** How long the freshly started actors are left idle before their RSS is read: their idle trim's window and a margin. */
const FRESH_IDLE_MS = 4_000;

const AGENT_PLANS: Record<"quick" | "full", AgentPlan> = {
  quick: {
    levels: [
      { inFlight: 1, requests: 30 },
      { inFlight: 64, requests: 320 },
      { inFlight: 1000, requests: 1000 },
    ],
    levelBudgetMs: 5_000,
    warmup: 5,
    settleMs: 3_000,
    sampleEveryMs: 100,
  },
  full: {
    levels: [
      { inFlight: 1, requests: 300 },
      { inFlight: 64, requests: 3_000 },
      { inFlight: 1000, requests: 4_000 },
    ],
    levelBudgetMs: 30_000,
    warmup: 20,
    settleMs: 10_000,
    sampleEveryMs: 100,
  },
};

/** The actors' settings, the same for the stack traced beside this one (tracing-overhead.ts). */
const ACTOR_ENV = {
  TF_EXECUTOR_TOOLS: NOOP_TOOL,
  TF_EXECUTOR_REMOTE_TOOLS: "true",
  TF_EXECUTOR_DISCOVERY_INTERVAL_MS: "500",
};

const WORKLOADS = ["agent", "overhead", "scaling", "throughput"] as const;
type Workload = (typeof WORKLOADS)[number];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      profile: { type: "boolean", default: false },
      only: { type: "string" },
    },
  });
  const mode = values.quick ? "quick" : "full";
  const plan = PLANS[mode];
  const workloads = chosenParts(WORKLOADS, values.only);
  const runs = (workload: Workload) => workloads.includes(workload);
  const work = mkdtempSync(join(tmpdir(), "toolformer-bench-"));
  // Kept after the run, to be opened in Chrome DevTools or VS Code beside the summary printed here.
  const profileDir = mkdtempSync(join(tmpdir(), "toolformer-bench-profiles-"));
  const started = Date.now();
  console.log(
    `benchmark (${mode}: ${workloads.join(", ")}) on ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB${values.profile ? ", profiling the actors" : ""}`,
  );

  const nats = await startNatsServer();
  const redis = await startRedis();
  const fake = await startFakeLlmProcess(
    { ...noopScenarios([...new Set([...plan.overheadCalls, plan.throughputCalls, 1])]), ...AGENT_SCENARIO_FILE },
    work,
  );
  const agentTool = await startNatsProcess(NATS_PROCESSES.agent, nats.url, nats.credentials("tool-provider"));
  const copies = { dispatcher: 1, scheduler: 1, "rate-limiter": 1, speculation: 1, executor: 1 };
  const actors = spawnBenchActors(nats, fake.url, copies, ACTOR_ENV, {
    output: "inherit",
    ...(values.profile ? { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] } : {}),
  });
  const cleanup = async () => {
    await actors.stop();
    await Promise.allSettled([fake.stop(), agentTool.stop(), redis.stop(), nats.stop()]);
  };
  try {
    await waitForActors(nats.url, copies, 30_000, nats.credentials("admin"));
    const client = await ToolformerClient.connect(nats.url, "bench", nats.credentials("client"));
    const hostsAll = async (names: string[]) => {
      const hosted = new Set((await client.tools()).tools.map((t) => t.name));
      return names.every((name) => hosted.has(name));
    };
    while (!(await hostsAll([NOOP_TOOL, AGENT_TOOL]))) await new Promise((resolve) => setTimeout(resolve, 100));
    // Before any request: what each actor holds freshly started, once idle (an actor trims what starting
    // up took in its first quiet window, idle-trim.ts).
    await new Promise((resolve) => setTimeout(resolve, FRESH_IDLE_MS));
    const freshRss = actorRss(actors);
    const raw = await startRawPipeline(nats.url, nats.credentials("admin"));
    const relay = await startRawRelay(nats.url, nats.credentials("admin"), `${fake.url}/v1`);
    const bull = await startBullMq(redis.url, CONCURRENCY * 4);
    const systems = {
      natsUrl: nats.url,
      natsServerPid: nats.pid ?? 0,
      admin: nats.credentials("admin"),
      client,
      actors,
      raw,
      relay,
      bull,
    };
    const natsServerVersion = client.nc.info?.version ?? "";

    const rows: Row[] = [];
    let agent: Awaited<ReturnType<typeof agentWorkload>> | undefined;
    if (runs("agent")) {
      console.log("agent requests: stack beside the raw relay ...");
      const admin = await nats.connect("admin");
      const jsm = await jetstreamManager(admin);
      agent = await agentWorkload(
        {
          client,
          relay,
          actors,
          jsm,
          natsServerPid: nats.pid ?? 0,
          relayFootprint: (load) =>
            measureRelayFootprint({
              ...load,
              natsUrl: nats.url,
              auth: nats.credentials("admin"),
              modelBaseUrl: `${fake.url}/v1`,
              freshIdleMs: FRESH_IDLE_MS,
            }),
        },
        AGENT_PLANS[mode],
        freshRss,
      );
      await admin.close();
      rows.push(...agentRows(agent.levels));
    }
    let tracing: Awaited<ReturnType<typeof tracingOverhead>> | undefined;
    if (runs("overhead")) {
      console.log("overhead per call ...");
      rows.push(...(await overhead(systems, plan)));
      console.log("overhead per call, tracing on beside off ...");
      tracing = await tracingOverhead(fake.url, ACTOR_ENV, plan);
      rows.push(...tracing.rows);
    }
    let scaled: Awaited<ReturnType<typeof scaling>> | undefined;
    if (runs("scaling")) {
      console.log("scaling and memory ...");
      scaled = await scaling(systems, plan);
      rows.push(...scaled.rows);
    }
    if (runs("throughput")) {
      console.log("throughput ...");
      rows.push(...(await throughput(systems, plan)));
    }

    console.log(`\n${renderTable(rows)}\n`);
    if (agent) console.log(`agent requests, stack beside the raw relay:\n\n${renderAgentTables(agent)}\n`);
    if (scaled) {
      console.log(
        "memory under the scaling workload (RSS, MiB): " +
          scaled.memory
            .map(
              (m) =>
                `${m.actor} ${(m.idleBytes / 2 ** 20).toFixed(0)} idle / ${(m.loadedBytes / 2 ** 20).toFixed(0)} at 1000 in flight`,
            )
            .join("; "),
      );
      console.log(`bytes per in-flight call: ${scaled.bytesPerInFlightCall.toFixed(0)}`);
    }

    await raw.stop();
    await relay.stop();
    await bull.stop();
    await client.close();
    await cleanup();
    const profiles = values.profile
      ? summarizeProfiles(profileDir, new Map(actors.pids().map(({ name, pid }) => [pid, name])))
      : undefined;
    if (profiles) console.log(`\n${describeProfiles(profileDir, profiles)}`);

    const result = {
      ...runInfo(mode, started),
      versions: {
        node: process.versions.node,
        natsServer: natsServerVersion,
        redis: execSync("redis-server --version", { encoding: "utf8" }).trim(),
      },
      concurrency: CONCURRENCY,
      workloads,
      plan: {
        ...plan,
        scalingRequestsPerLevel: plan.scalingLevels.map(plan.scalingRequestsPerLevel),
        agent: AGENT_PLANS[mode],
      },
      rows,
      ...(agent ? { agent } : {}),
      ...(scaled ? { memory: scaled.memory, bytesPerInFlightCall: scaled.bytesPerInFlightCall } : {}),
      ...(profiles ? { profiles } : {}),
      ...(tracing ? { tracing: tracingSummary(tracing) } : {}),
    };
    // A run of some workloads only is for looking at (git ignores it): latest.json stays a whole run's.
    const name =
      values.only === undefined ? (mode === "quick" ? "quick" : "latest") : ["partial", mode, ...workloads].join("-");
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
    if (!values.profile) rmSync(profileDir, { recursive: true, force: true });
  }
}

runBenchmark(main);
