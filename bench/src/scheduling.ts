/**
 * `npm run bench:scheduling [-- --quick] [-- --only plans,cancel]`: how close the scheduler gets to the
 * critical path of LLMCompiler-like plans (independent fan-out, diamond, chain, mixed DAG), with the
 * `sequential` strategy beside it in the same run; what a turn's width costs (32 parallel calls against
 * one, their requests taking turns); and how fast a cancel reaches 50 running calls across
 * three executors, sent as soon as they have started and once they have run a second. Prints tables;
 * writes docs/benchmarks/scheduling{,-quick}.{json,svg} (a run of some parts only: partial-scheduling-*).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { ToolformerClient } from "@toolformer/client";
import { waitForActors } from "@toolformer/cli";
import { EventType } from "@toolformer/protocol";
import { criticalPathMs, planToolCalls, randomDag, startNatsServer, type PlanNode } from "@toolformer/testing";
import { startBareHop } from "./bare-hop.ts";
import { chosenParts } from "./only.ts";
import { renderBars, runBenchmark, runInfo, writeResultFiles } from "./report.ts";
import { spawnBenchActors, startFakeLlmProcess } from "./services.ts";
import { pairedRatios, ratio, summarize, type Summary } from "./stats.ts";

/** The model's time to first token on each turn: the plan, then the answer. */
const MODEL_LATENCY_MS = 100;
const CANCEL_RUNNING = 50;
const CANCEL_QUEUED = 200;

/** Measured in parallel only: one after another it would take 6.4 s a request and show nothing new. */
const WIDE_FAN_OUT = "fan-out (32 × 200 ms)";
/**
 * The wide fan-out's yardstick (issue 18: "within 1.1× one call"): a turn of one such call, through the
 * same stack, its requests taking turns with the wide fan-out's so that both see the same machine.
 */
const ONE_CALL = "one call (1 × 200 ms)";

const chain = (length: number, ms: number): PlanNode[] =>
  Array.from({ length }, (_, i) => ({ id: `c${i}`, ms, deps: i === 0 ? [] : [`c${i - 1}`] }));

const WORKLOADS: Record<string, PlanNode[]> = {
  "fan-out (8 independent)": Array.from({ length: 8 }, (_, i) => ({ id: `f${i}`, ms: 100, deps: [] })),
  // Issue 18: a turn of 32 parallel 200 ms calls, with no cap set, should take about one call.
  [ONE_CALL]: [{ id: "one", ms: 200, deps: [] }],
  [WIDE_FAN_OUT]: Array.from({ length: 32 }, (_, i) => ({ id: `w${i}`, ms: 200, deps: [] })),
  "diamond (A → B, C → D)": [
    { id: "A", ms: 100, deps: [] },
    { id: "B", ms: 100, deps: ["A"] },
    { id: "C", ms: 150, deps: ["A"] },
    { id: "D", ms: 100, deps: ["B", "C"] },
  ],
  "chain (5 in a row)": chain(5, 60),
  "mixed (12-node DAG)": randomDag(3, 12, 40, 120),
};

const scenarioName = (index: number) => `plan-${index}`;

function scenarios(): Record<string, unknown> {
  const plans = Object.values(WORKLOADS).map((nodes, index) => [
    scenarioName(index),
    {
      turns: [
        { toolCalls: planToolCalls(nodes), timeToFirstTokenMs: MODEL_LATENCY_MS },
        { text: "done", timeToFirstTokenMs: MODEL_LATENCY_MS },
      ],
    },
  ]);
  const wide = {
    turns: [
      {
        toolCalls: Array.from({ length: CANCEL_RUNNING + CANCEL_QUEUED }, () => ({
          name: "sleep",
          arguments: { ms: 60_000 },
        })),
      },
      { text: "never reached" },
    ],
  };
  return { ...Object.fromEntries(plans), wide };
}

interface PlanRow {
  workload: string;
  strategy: "parallel" | "sequential";
  criticalPathMs: number;
  /** Whole request (model turns included) over model time + critical path. */
  totalOverBound: Summary;
  /** Tool phase over the critical path: the scheduler's own share. */
  toolsOverCriticalPath: Summary;
  /** The tool phase itself, ms, one sample per request in the order they ran. */
  toolsMs: number[];
}

/** Plans whose requests take turns, one request of each per rep; and which strategy each runs. */
interface PlanRun {
  index: number;
  workload: string;
  strategy: PlanRow["strategy"];
}

/** Runs the plans' requests in turns (one of each per rep), so that plans compared share the machine's moments. */
async function measurePlans(client: ToolformerClient, runs: readonly PlanRun[], reps: number): Promise<PlanRow[]> {
  const samples = runs.map(() => ({ total: [] as number[], tools: [] as number[], toolsMs: [] as number[] }));
  for (let rep = 0; rep < reps; rep++) {
    for (const [i, { index, workload, strategy }] of runs.entries()) {
      const critical = criticalPathMs(Object.values(WORKLOADS)[index]!);
      const reply = await client.request({
        prompt: "plan",
        model: `fake:${scenarioName(index)}`,
        options: { strategy },
      });
      if (reply.status !== "completed") throw new Error(`${workload}: ${reply.status} ${JSON.stringify(reply.error)}`);
      samples[i]!.total.push(reply.timings.totalMs / (reply.timings.modelMs + critical));
      samples[i]!.tools.push(reply.timings.toolsMs / critical);
      samples[i]!.toolsMs.push(reply.timings.toolsMs);
    }
  }
  return runs.map(({ index, workload, strategy }, i) => ({
    workload,
    strategy,
    criticalPathMs: criticalPathMs(Object.values(WORKLOADS)[index]!),
    totalOverBound: summarize(samples[i]!.total),
    toolsOverCriticalPath: summarize(samples[i]!.tools),
    toolsMs: samples[i]!.toolsMs,
  }));
}

/** Which plans run in turns with which: the wide fan-out with its yardstick, each other plan's strategies on their own. */
function planGroups(): PlanRun[][] {
  const names = Object.keys(WORKLOADS);
  const run = (workload: string, strategy: PlanRow["strategy"]): PlanRun => ({
    index: names.indexOf(workload),
    workload,
    strategy,
  });
  return names.flatMap((workload) => {
    if (workload === ONE_CALL) return [];
    if (workload === WIDE_FAN_OUT) return [[run(ONE_CALL, "parallel"), run(WIDE_FAN_OUT, "parallel")]];
    return [[run(workload, "parallel")], [run(workload, "sequential")]];
  });
}

/**
 * The wide fan-out's tool phase over the one call's, request by request as they took turns: what the
 * width itself costs, with the hops every call pays (the same in both) on each side.
 */
function widthCost(rows: readonly PlanRow[]): { oneCallToolsMs: Summary; wideToolsMs: Summary; ratio: Summary } {
  const one = rows.find((row) => row.workload === ONE_CALL)!.toolsMs;
  const wide = rows.find((row) => row.workload === WIDE_FAN_OUT)!.toolsMs;
  return {
    oneCallToolsMs: summarize(one),
    wideToolsMs: summarize(wide),
    ratio: pairedRatios(wide, one),
  };
}

/**
 * When the cancel comes: as soon as all CANCEL_RUNNING calls have started (the executors are still
 * busy with the start of each, as is every actor with their events), or once they have run this long.
 */
const CANCEL_AFTER_MS = [0, 1_000] as const;

interface CancelResult {
  /** How long after the last call started the cancel was sent. */
  afterMs: number;
  running: number;
  queued: number;
  executors: number;
  perCallMs: Summary;
  lastAbortMs: Summary;
  replyMs: Summary;
  /**
   * A bare publish to as many subscriber processes as there are executors, after the same quiet, to the
   * last arrival (bare-hop.ts), measured between the cancels; only where the cancel comes after a quiet.
   */
  bareHopMs?: Summary;
}

interface CancelSample {
  /** From the cancel's publish to each running call's abort, as its executor recorded it. */
  perCallMs: number[];
  lastAbortMs: number;
  replyMs: number;
}

/** One request with 50 calls running and 200 queued; cancelled `afterMs` after all 50 run. */
async function measureCancel(client: ToolformerClient, afterMs: number): Promise<CancelSample> {
  const id = `bench-cancel-${process.pid}-${Date.now()}`;
  const reply = client.request({
    id,
    prompt: "wide",
    model: "fake:wide",
    options: { maxParallel: CANCEL_RUNNING, earlyDispatch: false },
  });
  let running = 0;
  for await (const event of client.events(id)) {
    if (event.type === EventType.toolStarted) running++;
    if (running === CANCEL_RUNNING) break;
  }
  await sleep(afterMs);
  const cancelledAt = Date.now();
  await client.cancel(id);
  const answered = await reply;
  const replyMs = Date.now() - cancelledAt;
  if (answered.status !== "cancelled") throw new Error(`cancel: the request ended ${answered.status}`);
  const perCallMs = answered.toolCalls
    .filter((call) => call.startedAt !== null)
    .map((call) => call.startedAt! + call.durationMs - cancelledAt);
  if (perCallMs.length !== CANCEL_RUNNING) throw new Error(`cancel: ${perCallMs.length} calls had started`);
  return { perCallMs, lastAbortMs: Math.max(...perCallMs), replyMs };
}

const PARTS = ["plans", "cancel"] as const;

/**
 * Requests per reading in a full run. A p99 by nearest rank is the largest sample until there are 100,
 * so the readings issue 18 bounds by their p99 (the wide fan-out against one call, each cancel) take
 * 100; the other plans, read by their medians, 15. A quick run takes 3 of each.
 */
const FULL_REPS = { plans: 15, p99: 100 } as const;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: "boolean", default: false }, only: { type: "string" } },
  });
  const mode = values.quick ? "quick" : "full";
  const parts = chosenParts(PARTS, values.only);
  const reps = values.quick ? 3 : FULL_REPS.plans;
  const p99Reps = values.quick ? 3 : FULL_REPS.p99;
  const started = Date.now();
  console.log(`scheduling benchmark (${mode}: ${parts.join(", ")}) on ${cpus().length} cores`);
  const work = mkdtempSync(join(tmpdir(), "toolformer-bench-scheduling-"));
  const nats = await startNatsServer();
  const fake = await startFakeLlmProcess(scenarios(), work);
  const copies = { dispatcher: 1, scheduler: 1, "rate-limiter": 1, speculation: 1, executor: 3 };
  const actors = spawnBenchActors(nats, fake.url, copies, { TF_EXECUTOR_TOOLS: "sleep" });
  try {
    await waitForActors(nats.url, copies, 30_000, nats.credentials("admin"));
    const client = await ToolformerClient.connect(nats.url, "bench-scheduling", nats.credentials("client"));
    while (!(await client.tools()).tools.some((t) => t.name === "sleep"))
      await new Promise((resolve) => setTimeout(resolve, 100));

    const rows: PlanRow[] = [];
    let width: ReturnType<typeof widthCost> | undefined;
    if (parts.includes("plans")) {
      for (const group of planGroups()) {
        const groupReps = group.some((run) => run.workload === WIDE_FAN_OUT) ? p99Reps : reps;
        for (const row of await measurePlans(client, group, groupReps)) {
          console.log(`  ${row.workload}, ${row.strategy}: ${row.totalOverBound.median.toFixed(2)}× the bound`);
          rows.push(row);
        }
      }
      const fmt = (s: Summary) => `${s.median.toFixed(2)} / ${s.p99.toFixed(2)}`;
      const table = [
        "| workload | strategy | critical path ms | total / (model + critical path), median / p99 | tools phase / critical path, median / p99 |",
        "| --- | --- | ---: | ---: | ---: |",
        ...rows.map(
          (row) =>
            `| ${row.workload} | ${row.strategy} | ${row.criticalPathMs} | ${fmt(row.totalOverBound)} | ${fmt(row.toolsOverCriticalPath)} |`,
        ),
      ].join("\n");
      width = widthCost(rows);
      const ms = (s: Summary) => `median ${s.median.toFixed(0)} ms, p99 ${s.p99.toFixed(0)} ms`;
      console.log(
        [
          `\n${table}\n`,
          `tool phase of a turn, its requests taking turns (${p99Reps} each):`,
          `  ${ONE_CALL}: ${ms(width.oneCallToolsMs)}`,
          `  ${WIDE_FAN_OUT}: ${ms(width.wideToolsMs)}`,
          `  32 calls / one call, request by request: median ${width.ratio.median.toFixed(2)}×, p99 ${width.ratio.p99.toFixed(2)}×\n`,
        ].join("\n"),
      );
    }
    const cancels: CancelResult[] = [];
    if (parts.includes("cancel")) {
      const admin = await nats.connect("admin");
      const bareHop = await startBareHop(admin, nats.url, nats.credentials("admin"), copies.executor);
      const ms = (s: Summary) => `p50 ${s.median.toFixed(0)} ms, p99 ${s.p99.toFixed(0)} ms`;
      for (const afterMs of CANCEL_AFTER_MS) {
        const samples: CancelSample[] = [];
        const hops: number[] = [];
        for (let rep = 0; rep < p99Reps; rep++) {
          samples.push(await measureCancel(client, afterMs));
          if (afterMs > 0) hops.push(await bareHop.measure(afterMs));
        }
        const cancel = {
          afterMs,
          running: CANCEL_RUNNING,
          queued: CANCEL_QUEUED,
          executors: copies.executor,
          perCallMs: summarize(samples.flatMap((s) => s.perCallMs)),
          lastAbortMs: summarize(samples.map((s) => s.lastAbortMs)),
          replyMs: summarize(samples.map((s) => s.replyMs)),
          ...(hops.length > 0 ? { bareHopMs: summarize(hops) } : {}),
        };
        cancels.push(cancel);
        console.log(
          [
            `cancel ${afterMs} ms after ${CANCEL_RUNNING} calls started (+ ${CANCEL_QUEUED} queued) on ${copies.executor} executors, ${p99Reps} cancels:`,
            `  publish → each running call aborted: ${ms(cancel.perCallMs)} (n=${cancel.perCallMs.n})`,
            `  publish → last abort of the request: ${ms(cancel.lastAbortMs)}`,
            `  publish → cancelled reply: ${ms(cancel.replyMs)}`,
            ...(cancel.bareHopMs
              ? [
                  `  bare publish → last of ${copies.executor} idle subscriber processes, after the same quiet: ${ms(cancel.bareHopMs)}`,
                  `  last abort / bare hop: p50 ${ratio(cancel.lastAbortMs.median, cancel.bareHopMs.median).toFixed(2)}×, p99 ${ratio(cancel.lastAbortMs.p99, cancel.bareHopMs.p99).toFixed(2)}×`,
                ]
              : []),
          ].join("\n"),
        );
      }
      await bareHop.stop();
      await admin.close();
    }
    await client.close();

    const name =
      values.only === undefined
        ? mode === "quick"
          ? "scheduling-quick"
          : "scheduling"
        : ["partial-scheduling", mode, ...parts].join("-");
    const result = {
      ...runInfo(mode, started),
      modelLatencyMs: MODEL_LATENCY_MS,
      reps,
      p99Reps,
      ...(rows.length > 0 ? { plans: rows.map(({ toolsMs: _, ...row }) => row) } : {}),
      ...(width ? { fanOutVsOneCall: width } : {}),
      ...(cancels.length > 0 ? { cancels } : {}),
    };
    writeResultFiles(
      name,
      result,
      renderBars(
        rows.map((row) => ({ label: `${row.workload}, ${row.strategy}`, value: row.totalOverBound.median })),
        `Request time / (model time + critical path), medians (${mode}, ${cpus().length} cores; 1.00 is the bound)`,
      ),
    );
  } finally {
    await actors.stop();
    await Promise.allSettled([fake.stop(), nats.stop()]);
    rmSync(work, { recursive: true, force: true });
  }
}

runBenchmark(main);
