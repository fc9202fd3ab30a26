/**
 * `npm run bench:speculation [-- --quick]`: request latency with speculation on and off, measured in
 * alternation in one run, on a workload whose next calls are predictable after a warm-up (a research
 * agent: search what the prompt names, fetch the two top results, answer), on one that varies how
 * many results it fetches (so some guesses miss) and on one whose calls nobody can guess (lookups of
 * random keys). Prints a table with the latency ratio, the hit rate and
 * the wasted calls per request; writes docs/benchmarks/speculation{,-quick}.{json,svg}.
 */
import { randomBytes } from "node:crypto";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ToolformerClient } from "@toolformer/client";
import { waitForActors } from "@toolformer/cli";
import { startFakeLlm, type NormalizedConversation, type Scenario } from "@toolformer/fake-llm";
import { EventType, type OrchestrateEvent } from "@toolformer/protocol";
import { startNatsServer } from "@toolformer/testing";
import { renderBars, runBenchmark, runInfo, writeResultFiles } from "./report.ts";
import { spawnBenchActors } from "./services.ts";
import { summarize, type Summary } from "./stats.ts";

/** The model's time to first token on every turn, and each tool's time: speculation hides the one behind the other. */
const MODEL_MS = 300;
const TOOL_MS = 300;
const TOOLS_MODULE = fileURLToPath(new URL("./speculation-tools.ts", import.meta.url));

const toolResults = (c: NormalizedConversation) => c.messages.flatMap((m) => (m.role === "tool" ? [m] : []));
const promptOf = (c: NormalizedConversation) =>
  c.messages.flatMap((m) => (m.role === "user" ? [m.content] : [])).at(-1) ?? "";

/** Search what the prompt names, fetch the top results (`fetches` of them), answer. */
const researchAgent =
  (fetches: () => number): Scenario =>
  (c) => {
    const results = toolResults(c);
    const turn = { timeToFirstTokenMs: MODEL_MS };
    if (results.length === 0)
      return { ...turn, toolCalls: [{ name: "search", arguments: { query: promptOf(c).replace(/^Research: /, "") } }] };
    const last = results.at(-1)!;
    if (last.name !== "search") return { ...turn, text: "summary" };
    const { results: found } = JSON.parse(last.content) as { results: { url: string }[] };
    return {
      ...turn,
      toolCalls: found.slice(0, fetches()).map((r) => ({ name: "fetch_page", arguments: { url: r.url } })),
    };
  };
/** The same steps every time. */
const research = researchAgent(() => 2);
/** Fetches one, two or three results, at random: some guesses miss. */
const wavering = researchAgent(() => 1 + Math.floor(Math.random() * 3));

/** Two rounds of lookups of keys that appear nowhere before the model writes them. */
const unpredictable: Scenario = (c) => {
  const turn = { timeToFirstTokenMs: MODEL_MS };
  if (toolResults(c).length >= 2) return { ...turn, text: "done" };
  return { ...turn, toolCalls: [{ name: "lookup", arguments: { key: randomBytes(6).toString("hex") } }] };
};

const WORKLOADS = {
  "predictable (research agent)": { model: "fake:research", prompt: (i: number) => `Research: topic number ${i}` },
  "half predictable (fetches 1-3 results)": {
    model: "fake:wavering",
    prompt: (i: number) => `Research: subject ${i}`,
  },
  "unpredictable (random lookups)": { model: "fake:unpredictable", prompt: (i: number) => `Look things up ${i}` },
};

interface WorkloadResult {
  workload: string;
  pairs: number;
  offMs: Summary;
  onMs: Summary;
  /** Median latency with speculation ÷ median without. */
  ratio: number;
  modelCalls: number;
  started: number;
  hits: number;
  misses: number;
  /** Hits ÷ speculative calls started. */
  hitRate: number;
  /** The model's calls served by speculation ÷ all of them. */
  coverage: number;
  wastedPerRequest: number;
}

async function measure(
  client: ToolformerClient,
  workload: string,
  { model, prompt }: (typeof WORKLOADS)[keyof typeof WORKLOADS],
  warmUp: number,
  pairs: number,
): Promise<WorkloadResult> {
  // A tenant of its own, so the workload learns from nothing but itself.
  const tag = randomBytes(3).toString("hex");
  const tenant = `bench-${tag}`;
  for (let i = 0; i < warmUp; i++) await client.request({ prompt: prompt(i), model, options: { tenant } });
  await new Promise((resolve) => setTimeout(resolve, 1_500)); // the history model saves once a second
  const off: number[] = [];
  const on: number[] = [];
  const onIds: string[] = [];
  let modelCalls = 0;
  for (let i = 0; i < pairs; i++) {
    // Alternate which goes first, so a drift in the machine's speed falls on both sides alike.
    for (const speculation of i % 2 === 0 ? [false, true] : [true, false]) {
      const id = `spec-${tag}-${i}-${speculation ? "on" : "off"}`;
      const started = performance.now();
      const reply = await client.request({ id, prompt: prompt(warmUp + i), model, options: { speculation, tenant } });
      const elapsed = performance.now() - started;
      if (reply.status !== "completed") throw new Error(`${workload}: a request ended ${reply.status}`);
      (speculation ? on : off).push(elapsed);
      if (speculation) {
        onIds.push(id);
        modelCalls += reply.toolCalls.length;
      }
    }
  }
  const events: OrchestrateEvent[] = [];
  for (const id of onIds) for await (const event of client.events(id)) events.push(event);
  const count = (type: string) => events.filter((e) => e.type === type).length;
  const [started, hits, misses] = [
    EventType.speculationStarted,
    EventType.speculationHit,
    EventType.speculationMiss,
  ].map(count) as [number, number, number];
  const offMs = summarize(off);
  const onMs = summarize(on);
  return {
    workload,
    pairs,
    offMs,
    onMs,
    ratio: onMs.median / offMs.median,
    modelCalls,
    started,
    hits,
    misses,
    hitRate: started === 0 ? 0 : hits / started,
    coverage: modelCalls === 0 ? 0 : hits / modelCalls,
    wastedPerRequest: misses / pairs,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: "boolean", default: false } } });
  const mode = values.quick ? "quick" : "full";
  const pairs = values.quick ? 4 : 20;
  const warmUp = 5;
  const startedAt = Date.now();
  console.log(
    `speculation benchmark (${mode}) on ${cpus().length} cores: model ${MODEL_MS} ms per turn, tools ${TOOL_MS} ms`,
  );
  const nats = await startNatsServer();
  const fake = await startFakeLlm({ scenarios: { research, wavering, unpredictable } });
  const copies = { dispatcher: 1, scheduler: 1, "rate-limiter": 1, speculation: 1, executor: 1 };
  const actors = spawnBenchActors(nats, fake.url, copies, {
    TF_EXECUTOR_TOOL_MODULES: TOOLS_MODULE,
    TF_EXECUTOR_TOOLS: "",
    TF_BENCH_TOOL_MS: String(TOOL_MS),
  });
  try {
    await waitForActors(nats.url, copies, 30_000, nats.credentials("admin"));
    const client = await ToolformerClient.connect(nats.url, "bench-speculation", nats.credentials("client"));
    while ((await client.tools()).tools.length < 3) await new Promise((resolve) => setTimeout(resolve, 100));
    const rows: WorkloadResult[] = [];
    for (const [workload, spec] of Object.entries(WORKLOADS)) {
      const row = await measure(client, workload, spec, warmUp, pairs);
      console.log(`  ${workload}: ${row.ratio.toFixed(2)}× the latency without speculation`);
      rows.push(row);
    }
    await client.close();

    const table = [
      "| workload | latency off, median ms | latency on, median ms | on ÷ off | hit rate (hits ÷ started) | model's calls served by speculation | wasted calls per request |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
      ...rows.map(
        (r) =>
          `| ${r.workload} | ${r.offMs.median.toFixed(0)} | ${r.onMs.median.toFixed(0)} | ${r.ratio.toFixed(2)} | ${(r.hitRate * 100).toFixed(0)} % (${r.hits}/${r.started}) | ${(r.coverage * 100).toFixed(0)} % | ${r.wastedPerRequest.toFixed(2)} |`,
      ),
    ].join("\n");
    console.log(`\n${table}\n`);
    const name = mode === "quick" ? "speculation-quick" : "speculation";
    writeResultFiles(
      name,
      { ...runInfo(mode, startedAt), modelMs: MODEL_MS, toolMs: TOOL_MS, warmUp, workloads: rows },
      renderBars(
        rows.map((r) => ({ label: r.workload, value: r.ratio })),
        `Latency with speculation ÷ without, medians (${mode}, ${cpus().length} cores; lower is better)`,
      ),
    );
  } finally {
    await actors.stop();
    await Promise.allSettled([fake.close(), nats.stop()]);
  }
}

runBenchmark(main);
