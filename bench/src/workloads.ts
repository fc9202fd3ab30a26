import type { NatsAuth } from "@toolformer/client";
import type { ToolformerClient } from "@toolformer/client";
import { waitForActors, type ActorProcesses } from "@toolformer/cli";
import { closedLoop } from "./load.ts";
import type { Row } from "./report.ts";
import { NOOP_TOOL, noopScenario } from "./noop-scenario.ts";
import { cpuMs, machineBusyMs, rssBytes } from "./services.ts";
import { ratio, summarize, type Summary } from "./stats.ts";
import type { BullMqPeer } from "./systems/bullmq.ts";
import { runInProcess } from "./systems/in-process.ts";
import type { RawPipeline } from "./systems/raw-nats.ts";
import type { RawRelay } from "./systems/raw-relay.ts";

export interface Systems {
  natsUrl: string;
  /** nats-server's process, whose CPU the throughput workload reads. */
  natsServerPid: number;
  /** Credentials that may ping every actor's service API. */
  admin: NatsAuth;
  client: ToolformerClient;
  actors: ActorProcesses;
  raw: RawPipeline;
  relay: RawRelay;
  bull: BullMqPeer;
}

export interface Plan {
  overheadCalls: number[];
  overheadReps: number;
  warmup: number;
  throughputRequests: number;
  throughputInFlight: number;
  throughputCalls: number;
  scalingLevels: number[];
  scalingRequestsPerLevel: (inFlight: number) => number;
}

/** The no-op tool every system runs: the work is nothing, so what is measured is the machinery. */
const noop = async (value: number) => value;
/** Same concurrency everywhere: a request's maxParallel, and each worker's concurrency. */
export const CONCURRENCY = 16;

let sequence = 0;
const uniqueId = (label: string) => `bench-${label}-${process.pid}-${++sequence}`;

/**
 * One request of `calls` no-op calls; resolves to the model's share of its time, ms. Fails loudly if
 * the orchestrator did not complete: a benchmark of failures measures nothing.
 */
export async function orchestrate(client: ToolformerClient, calls: number): Promise<number> {
  const reply = await client.request({
    id: uniqueId("o"),
    prompt: "go",
    model: `fake:${noopScenario(calls)}`,
    tools: [NOOP_TOOL],
    options: { maxParallel: CONCURRENCY },
  });
  if (reply.status !== "completed" || reply.toolCalls.length !== calls) {
    throw new Error(
      `orchestrator request ${reply.status}: ${JSON.stringify(reply.error ?? reply.toolCalls.slice(0, 2))}`,
    );
  }
  return reply.timings.modelMs;
}

export async function repeat(times: number, operation: () => Promise<void>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    await operation();
    samples.push(performance.now() - t0);
  }
  return samples;
}

/**
 * Overhead per tool call: one request with K no-op calls, one at a time. For the orchestrator the
 * model's (fake, zero-latency) HTTP time is taken out, since no baseline calls a model.
 */
export async function overhead(systems: Systems, plan: Plan): Promise<Row[]> {
  const rows: Row[] = [];
  for (const calls of plan.overheadCalls) {
    const workload = `overhead K=${calls}`;
    const metric = "ms per call";
    await repeat(plan.warmup, async () => void (await orchestrate(systems.client, calls)));
    const orchestrator: number[] = [];
    for (let i = 0; i < plan.overheadReps; i++) {
      const t0 = performance.now();
      const modelMs = await orchestrate(systems.client, calls);
      orchestrator.push((performance.now() - t0 - modelMs) / calls);
    }
    await repeat(plan.warmup, () => systems.raw.request(uniqueId("w"), calls));
    const raw = (await repeat(plan.overheadReps, () => systems.raw.request(uniqueId("r"), calls))).map(
      (ms) => ms / calls,
    );
    const inProcess = (
      await repeat(plan.overheadReps, async () => void (await runInProcess(calls, CONCURRENCY, noop)))
    ).map((ms) => ms / calls);
    await repeat(plan.warmup, () => systems.bull.request(calls));
    const bull = (await repeat(plan.overheadReps, () => systems.bull.request(calls))).map((ms) => ms / calls);
    const base = summarize(orchestrator);
    for (const [system, samples] of [
      ["orchestrator", orchestrator],
      ["raw NATS", raw],
      ["in-process", inProcess],
      ["BullMQ", bull],
    ] as const) {
      const summary = summarize(samples);
      rows.push({ workload, system, metric, summary, vsOrchestrator: ratio(summary.median, base.median) });
    }
  }
  return rows;
}

interface Sustained {
  perSecond: Summary;
  serverCpu: Summary;
  machineCpu: Summary;
}

/** The bare hops without each call's three stored events: two stored writes per call instead of five. */
const FEWER_WRITES = "raw NATS, no call events";
/** The model's two turns with the bare hops between them: the floor of a system that asks and stores. */
const RELAY_AND_HOPS = "raw relay + raw NATS";
const RELAY_AND_FEWER = "raw relay + raw NATS, no call events";

/**
 * Sustained tool calls per second with many requests in flight, for 1 then 2 executors (and workers),
 * each system after the same warm-up; beside them, each system's CPU per call, of the whole machine and
 * of nats-server.
 */
export async function throughput(systems: Systems, plan: Plan): Promise<Row[]> {
  const rows: Row[] = [];
  const calls = plan.throughputCalls;
  const totalCalls = plan.throughputRequests * calls;
  const rate = (elapsedMs: number) => summarize([(totalCalls * 1000) / elapsedMs]);
  /**
   * A warm-up of a fifth, then the measured loop: its calls per second, and the CPU ms per call of
   * nats-server and of the whole machine (every process, the load's own included). CPU per call is what
   * a system would cost on any number of cores; calls per second also say how well it used these two.
   */
  const sustained = async (request: () => Promise<unknown>): Promise<Sustained> => {
    const loop = (total: number) => closedLoop(plan.throughputInFlight, total, async () => void (await request()));
    await loop(Math.ceil(plan.throughputRequests / 5));
    const [serverBefore, machineBefore] = [cpuMs(systems.natsServerPid), machineBusyMs()];
    const { elapsedMs } = await loop(plan.throughputRequests);
    const serverCpuMsPerCall = (cpuMs(systems.natsServerPid) - serverBefore) / totalCalls;
    const machineCpuMsPerCall = (machineBusyMs() - machineBefore) / totalCalls;
    return {
      perSecond: rate(elapsedMs),
      serverCpu: summarize([serverCpuMsPerCall]),
      machineCpu: summarize([machineCpuMsPerCall]),
    };
  };
  const inProcess = rate(
    (
      await closedLoop(
        plan.throughputInFlight,
        plan.throughputRequests,
        async () => void (await runInProcess(calls, CONCURRENCY, noop)),
      )
    ).elapsedMs,
  );
  for (const copies of [1, 2]) {
    if (copies === 2) {
      systems.actors.add("executor");
      await systems.bull.addWorker();
      await waitForActors(systems.natsUrl, { executor: 2 }, 30_000, systems.admin);
    }
    const workload = `throughput, ${copies} executor${copies > 1 ? "s" : ""}`;
    const orchestrator = await sustained(() => orchestrate(systems.client, calls));
    const row = (system: string, metric: string, summary: Summary, orchestrators: Summary): Row => ({
      workload,
      system,
      metric,
      summary,
      vsOrchestrator: ratio(summary.median, orchestrators.median),
    });
    const perSecond: Row[] = [];
    const machineCpu: Row[] = [];
    const serverCpu: Row[] = [];
    /** `storesInNats`: the system's stored writes go to nats-server, whose CPU per call is then its own. */
    const report = (system: string, result: Sustained, storesInNats: boolean) => {
      perSecond.push(row(system, "calls per second", result.perSecond, orchestrator.perSecond));
      machineCpu.push(row(system, "machine CPU ms per call", result.machineCpu, orchestrator.machineCpu));
      if (storesInNats)
        serverCpu.push(row(system, "nats-server CPU ms per call", result.serverCpu, orchestrator.serverCpu));
    };
    report("orchestrator", orchestrator, true);
    report("BullMQ", await sustained(() => systems.bull.request(calls)), false);
    if (copies === 1) {
      // Executors change none of these: measured once, beside the first pair. The raw relay is what asking
      // the model costs alone; raw NATS what the durable hops cost alone, with no model and no logic; both
      // together the floor of a system that asks the model and stores each call's hops.
      const hops = (callEvents: boolean) => () => systems.raw.request(uniqueId("t"), calls, { callEvents });
      const relay = (between?: () => Promise<void>) => () => systems.relay.noopRequest(calls, CONCURRENCY, between);
      report("raw relay", await sustained(relay()), false);
      report("raw NATS", await sustained(hops(true)), true);
      report(FEWER_WRITES, await sustained(hops(false)), true);
      report(RELAY_AND_HOPS, await sustained(relay(hops(true))), true);
      report(RELAY_AND_FEWER, await sustained(relay(hops(false))), true);
    }
    perSecond.push(row("in-process", "calls per second", inProcess, orchestrator.perSecond));
    rows.push(...perSecond, ...machineCpu, ...serverCpu);
  }
  return rows;
}

export interface MemoryReading {
  actor: string;
  idleBytes: number;
  loadedBytes: number;
}

/**
 * Latency as the work in flight grows 10 -> 100 -> 1000 requests (one call each), beside BullMQ;
 * and every actor's RSS idle and at its peak under the largest load.
 */
export async function scaling(
  systems: Systems,
  plan: Plan,
): Promise<{ rows: Row[]; memory: MemoryReading[]; bytesPerInFlightCall: number }> {
  const rows: Row[] = [];
  const pids = systems.actors.pids();
  const idle = pids.map(({ pid }) => rssBytes(pid));
  const peak = [...idle];
  const largest = Math.max(...plan.scalingLevels);
  for (const inFlight of plan.scalingLevels) {
    const total = plan.scalingRequestsPerLevel(inFlight);
    const sampler =
      inFlight === largest
        ? setInterval(() => pids.forEach(({ pid }, i) => (peak[i] = Math.max(peak[i] ?? 0, rssBytes(pid)))), 100)
        : undefined;
    const orchestrator = await closedLoop(inFlight, total, async () => void (await orchestrate(systems.client, 1)));
    clearInterval(sampler);
    const bull = await closedLoop(inFlight, total, () => systems.bull.request(1));
    const o = summarize(orchestrator.latenciesMs);
    const b = summarize(bull.latenciesMs);
    rows.push({
      workload: `scaling, ${inFlight} in flight`,
      system: "orchestrator",
      metric: "ms per request",
      summary: o,
      vsOrchestrator: 1,
    });
    rows.push({
      workload: `scaling, ${inFlight} in flight`,
      system: "BullMQ",
      metric: "ms per request",
      summary: b,
      vsOrchestrator: ratio(b.median, o.median),
    });
  }
  const memory = pids.map(({ name }, i) => ({ actor: name, idleBytes: idle[i] ?? 0, loadedBytes: peak[i] ?? 0 }));
  const grown = memory.reduce((sum, m) => sum + Math.max(0, m.loadedBytes - m.idleBytes), 0);
  return { rows, memory, bytesPerInFlightCall: grown / largest };
}
