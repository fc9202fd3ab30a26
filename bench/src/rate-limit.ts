/**
 * `npm run bench:rate-limit [-- --quick] [-- --profile] [-- --only throughput,precision,utilization]`: the rate-limiter
 * actor measured in one run: acquires per second on one hot scope and spread over many scopes with 1, 2
 * and 3 limiter processes, KV operations per acquire, precision (most admitted in any window / limit)
 * beside BullMQ's queue limiter on Redis under the same load, and how much of a remote tool's limit the
 * whole stack uses (limiter-utilization.ts; `--profile` profiles its actors). Prints tables; writes
 * docs/benchmarks/rate-limit{,-quick}.{json,svg} (a run of some parts only: partial-rate-limit-*).
 */
import { mkdtempSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Queue, Worker } from "bullmq";
import { spawnActors, waitForActors } from "@toolformer/cli";
import type { RateLimitScope } from "@toolformer/protocol";
import { freePort, maxInAnyWindow, saturate, startNatsServer, type NatsServer } from "@toolformer/testing";
import { chosenParts } from "./only.ts";
import { describeProfiles } from "./profile.ts";
import { renderBars, runBenchmark, runInfo, writeResultFiles } from "./report.ts";
import { LIMITED_TOOL_LIMIT } from "./limited-tool.ts";
import { startRedis } from "./services.ts";
import { TRANSIT_SLACK_MS } from "./utilization.ts";
import {
  limiterUtilization,
  UTILIZATION_CALLS,
  UTILIZATION_REQUESTS,
  type UtilizationRun,
} from "./limiter-utilization.ts";

const CALLERS = 200;
const PRECISION_LIMIT = 50;
const PRECISION_INTERVAL_MS = 1_000;

interface Limiters {
  metricsUrls: string[];
  stop(): Promise<void>;
}

/** Limiter copies as their own processes, each with its own /metrics port (to count KV operations). */
async function startLimiters(nats: NatsServer, copies: number): Promise<Limiters> {
  const ports: number[] = [];
  for (let i = 0; i < copies; i++) ports.push(await freePort());
  const processes = spawnActors(
    { "rate-limiter": copies },
    { ...process.env, NATS_URL: nats.url, LOG_LEVEL: "warn" },
    { credentials: nats.credentials, envForCopy: (_, copy) => ({ METRICS_PORT: String(ports[copy - 1]) }) },
  );
  await waitForActors(nats.url, { "rate-limiter": copies }, 15_000, nats.credentials("admin"));
  return { metricsUrls: ports.map((port) => `http://127.0.0.1:${port}/metrics`), stop: () => processes.stop() };
}

/** Sum of a counter over every limiter copy, optionally for one label value. */
async function counter(urls: string[], name: string, label?: string): Promise<number> {
  let total = 0;
  for (const url of urls) {
    const text = await (await fetch(url)).text();
    for (const line of text.split("\n")) {
      if (!line.startsWith(name) || (label && !line.includes(label))) continue;
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return total;
}

interface ThroughputRow {
  load: "one hot scope" | "100 scopes";
  copies: number;
  acquiresPerSecond: number;
  kvOpsPerAcquire: number;
  conflictsPerAcquire: number;
  /** CPU the limiter processes spent per 1000 grants: flat across copies means throughput follows the cores. */
  limiterCpuMsPer1000: number;
}

const CPU_SECONDS = "process_cpu_seconds_total";

async function throughput(nats: NatsServer, copies: number, hot: boolean, durationMs: number): Promise<ThroughputRow> {
  const limiters = await startLimiters(nats, copies);
  try {
    // Limits far above what the machine can ask for: this measures the limiter, not the limit. Each of
    // the 100 scopes is its own tool's, so they spread over the copies' lines.
    const tool = (caller: number) => (hot ? "hot" : `tool-${caller % 100}`);
    const scopes = (caller: number): RateLimitScope[] => [
      { key: `tool:${tool(caller)}`, limit: 100_000, intervalMs: 100 },
    ];
    const targetOf = (caller: number) => ({ kind: "tool" as const, name: tool(caller) });
    const cpuBefore = await counter(limiters.metricsUrls, CPU_SECONDS);
    const grants = await saturate({
      servers: [nats.url],
      auth: nats.credentials("dispatcher"),
      callers: CALLERS,
      scopes,
      targetOf,
      durationMs,
    });
    const cpuSeconds = (await counter(limiters.metricsUrls, CPU_SECONDS)) - cpuBefore;
    const granted = await counter(limiters.metricsUrls, "toolformer_messages_total", 'outcome="granted"');
    const kvOps = await counter(limiters.metricsUrls, "toolformer_ratelimit_kv_operations_total");
    const conflicts = await counter(limiters.metricsUrls, "toolformer_ratelimit_kv_operations_total", "conflict");
    return {
      load: hot ? "one hot scope" : "100 scopes",
      copies,
      acquiresPerSecond: grants.length / (durationMs / 1000),
      kvOpsPerAcquire: kvOps / granted,
      conflictsPerAcquire: conflicts / granted,
      limiterCpuMsPer1000: (cpuSeconds * 1_000_000) / granted,
    };
  } finally {
    await limiters.stop();
  }
}

/** Ours: 3 limiter copies, CALLERS callers on one scope; the most granted in any window, over the limit. */
async function ourPrecision(nats: NatsServer, durationMs: number): Promise<number> {
  const limiters = await startLimiters(nats, 3);
  try {
    const scope = { key: "bench:precision", limit: PRECISION_LIMIT, intervalMs: PRECISION_INTERVAL_MS };
    const grants = await saturate({
      servers: [nats.url],
      auth: nats.credentials("dispatcher"),
      callers: CALLERS,
      scopes: [scope],
      durationMs,
    });
    return (
      maxInAnyWindow(
        grants.map((g) => g.at),
        PRECISION_INTERVAL_MS,
      ) / PRECISION_LIMIT
    );
  } finally {
    await limiters.stop();
  }
}

/** BullMQ: 3 workers with the queue's limiter at the same limit, a backlog of jobs; the same measure at job start. */
async function bullPrecision(redisUrl: string, durationMs: number): Promise<number> {
  const { hostname, port } = new URL(redisUrl);
  const connection = { host: hostname, port: Number(port), maxRetriesPerRequest: null };
  const queue = new Queue("bench-limited", { connection });
  const jobs = Math.ceil((PRECISION_LIMIT * durationMs) / PRECISION_INTERVAL_MS) * 2;
  await queue.addBulk(Array.from({ length: jobs }, (_, i) => ({ name: "call", data: { i } })));
  const starts: number[] = [];
  const workers = [1, 2, 3].map(
    () =>
      new Worker(
        "bench-limited",
        async () => {
          starts.push(Date.now());
        },
        {
          connection,
          concurrency: Math.ceil(CALLERS / 3),
          limiter: { max: PRECISION_LIMIT, duration: PRECISION_INTERVAL_MS },
        },
      ),
  );
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  await Promise.all(workers.map((w) => w.close(true)));
  await queue.obliterate({ force: true });
  await queue.close();
  return (
    maxInAnyWindow(
      starts.sort((a, b) => a - b),
      PRECISION_INTERVAL_MS,
    ) / PRECISION_LIMIT
  );
}

const PARTS = ["throughput", "precision", "utilization"] as const;

function throughputTable(rows: readonly ThroughputRow[]): string {
  return [
    "| load | limiter copies | acquires/s | × 1 copy | KV ops / acquire | conflicts / acquire | limiter CPU ms / 1000 acquires |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((row) => {
      const base = rows.find((r) => r.load === row.load && r.copies === 1)!;
      return `| ${row.load} | ${row.copies} | ${row.acquiresPerSecond.toFixed(0)} | ${(row.acquiresPerSecond / base.acquiresPerSecond).toFixed(2)} | ${row.kvOpsPerAcquire.toFixed(2)} | ${row.conflictsPerAcquire.toFixed(2)} | ${row.limiterCpuMsPer1000.toFixed(0)} |`;
    }),
  ].join("\n");
}

function utilizationTable({
  warmUps,
  runs,
}: {
  warmUps: readonly UtilizationRun[];
  runs: readonly UtilizationRun[];
}): string {
  const { limit, intervalMs } = LIMITED_TOOL_LIMIT;
  const row = (label: string, run: UtilizationRun) =>
    `| ${label} | ${run.calls} | ${run.firstStartMs} | ${run.spanMs} (${run.idealSpanMs}) | ${run.firstWindowMs} | ${run.utilization.toFixed(2)} | ${run.windowLatenessMs.join(" / ")} | ${run.maxInWindow} | ${run.maxInWindowLessSlack} | ${run.maxInWindowAtExecutors} | ${run.loadAverage.toFixed(1)} |`;
  return [
    `${UTILIZATION_REQUESTS} requests × ${UTILIZATION_CALLS} calls of a remote tool limited to ${limit} per ${intervalMs} ms, sent at once:`,
    "",
    `| run | calls | first start ms | span ms (ideal) | first ${limit} over ms | utilization | each later window past one interval, median ms | most starts at the tool in any ${intervalMs} ms | in any ${intervalMs - TRANSIT_SLACK_MS} ms | at the executors in any ${intervalMs} ms | load average |`,
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...warmUps.map((run, i) => row(`warm-up ${i + 1}`, run)),
    ...runs.map((run, i) => row(String(i + 1), run)),
  ].join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      profile: { type: "boolean", default: false },
    },
  });
  const mode = values.quick ? "quick" : "full";
  const parts = chosenParts(PARTS, values.only);
  const durationMs = values.quick ? 1_500 : 4_000;
  const utilizationRuns = values.quick ? 2 : 5;
  const started = Date.now();
  console.log(`rate-limit benchmark (${mode}: ${parts.join(", ")}) on ${cpus().length} cores, ${CALLERS} callers`);
  const nats = await startNatsServer();
  const redis = await startRedis();
  try {
    const rows: ThroughputRow[] = [];
    if (parts.includes("throughput")) {
      for (const hot of [true, false]) {
        for (const copies of [1, 2, 3]) {
          const row = await throughput(nats, copies, hot, durationMs);
          console.log(
            `  ${row.load}, ${copies} ${copies === 1 ? "copy" : "copies"}: ${row.acquiresPerSecond.toFixed(0)}/s`,
          );
          rows.push(row);
        }
      }
      console.log(`\n${throughputTable(rows)}\n`);
    }
    let precision: { toolformer: number; bullmq: number } | undefined;
    if (parts.includes("precision")) {
      const precisionMs = Math.max(durationMs, 3 * PRECISION_INTERVAL_MS + 500);
      precision = {
        toolformer: await ourPrecision(nats, precisionMs),
        bullmq: await bullPrecision(redis.url, precisionMs),
      };
      console.log(
        `precision, ${PRECISION_LIMIT} per ${PRECISION_INTERVAL_MS} ms, ${CALLERS} callers, 3 copies/workers: most admitted in any window / limit = toolformer ${precision.toolformer.toFixed(2)}, BullMQ ${precision.bullmq.toFixed(2)}\n`,
      );
    }
    let utilization: Awaited<ReturnType<typeof limiterUtilization>> | undefined;
    if (parts.includes("utilization")) {
      // Kept after the run, to be opened in Chrome DevTools or VS Code beside the summary printed here.
      const profileDir = values.profile ? mkdtempSync(join(tmpdir(), "toolformer-bench-profiles-")) : undefined;
      utilization = await limiterUtilization(nats, utilizationRuns, profileDir === undefined ? {} : { profileDir });
      console.log(`${utilizationTable(utilization)}\n`);
      if (profileDir && utilization.profiles) console.log(`${describeProfiles(profileDir, utilization.profiles)}\n`);
    }

    const name =
      values.only === undefined
        ? mode === "quick"
          ? "rate-limit-quick"
          : "rate-limit"
        : ["partial-rate-limit", mode, ...parts].join("-");
    const result = {
      ...runInfo(mode, started),
      callers: CALLERS,
      ...(rows.length > 0 ? { throughput: rows } : {}),
      ...(precision
        ? { precision: { limit: PRECISION_LIMIT, intervalMs: PRECISION_INTERVAL_MS, maxPerWindowOverLimit: precision } }
        : {}),
      ...(utilization
        ? {
            utilization: {
              requests: UTILIZATION_REQUESTS,
              callsPerRequest: UTILIZATION_CALLS,
              ...LIMITED_TOOL_LIMIT,
              transitSlackMs: TRANSIT_SLACK_MS,
              ...utilization,
            },
          }
        : {}),
    };
    writeResultFiles(
      name,
      result,
      rows.length > 0
        ? renderBars(
            rows.map((row) => ({ label: `${row.load}, ${row.copies}×`, value: row.acquiresPerSecond })),
            `Rate-limiter acquires per second (${mode}, ${cpus().length} cores)`,
          )
        : renderBars(
            (utilization?.runs ?? []).map((run, i) => ({ label: `run ${i + 1}`, value: run.utilization })),
            `Share of a tool's rate limit used, by run (${mode}, ${cpus().length} cores)`,
          ),
    );
  } finally {
    await Promise.allSettled([redis.stop(), nats.stop()]);
  }
}

runBenchmark(main);
