import type { JetStreamManager } from "@nats-io/jetstream";
import type { ToolformerClient } from "@toolformer/client";
import type { ActorProcesses } from "@toolformer/cli";
import { AGENT_ANSWER, AGENT_PROMPT, AGENT_SCENARIO, AGENT_TOOL } from "./agent-scenario.ts";
import { closedLoop } from "./load.ts";
import type { Row } from "./report.ts";
import { cpuMs, rssBytes } from "./services.ts";
import { ratio, summarize, type Summary } from "./stats.ts";
import type { RelayFootprint, RelayLoad } from "./relay-footprint.ts";
import type { RawRelay } from "./systems/raw-relay.ts";

export interface AgentPlan {
  /** Requests in flight, each with how many requests to send at most. */
  levels: { inFlight: number; requests: number }[];
  /** No request starts after this long into a level (the ones in flight are let finish). */
  levelBudgetMs: number;
  warmup: number;
  /** How long the stack is left idle after the load before its "after load" RSS is read. */
  settleMs: number;
  /** How often RSS is sampled for the peak under the largest load. */
  sampleEveryMs: number;
}

export interface AgentSide {
  latencyMs: Summary;
  requestsPerSecond: number;
}

export interface AgentLevel {
  inFlight: number;
  stack: AgentSide;
  relay: AgentSide;
}

/**
 * What one actor process costs: its RSS right after start, at its peak under the largest load and idle
 * after it, and its CPU per request.
 */
export interface ActorFootprint {
  actor: string;
  pid: number;
  freshBytes: number;
  peakBytes: number;
  afterLoadBytes: number;
  /** (peak - fresh) / requests in flight at the largest load: what one call in flight costs it. */
  bytesPerInFlightCall: number;
  /** CPU time (user + system) it used per stack request over the stack's levels: a cost, not a timing. */
  cpuMsPerRequest: number;
}

export interface AgentResult {
  levels: AgentLevel[];
  /** nats-server's CPU time per request, under the stack's load and under the relay's. */
  natsServerCpuMsPerRequest: { stack: number; relay: number };
  /** Messages stored per stack request, by stream (KV buckets are streams too): a count, not a timing. */
  storedPerRequest: Record<string, number>;
  footprints: ActorFootprint[];
  total: Omit<ActorFootprint, "actor" | "pid">;
  /** The relay alone in a process at the largest level: what the bare hops hold per request in flight. */
  relay: RelayFootprint;
}

let sequence = 0;

/** One agent request through the stack; fails loudly unless the model's answer came back. */
async function stackRequest(client: ToolformerClient): Promise<void> {
  const reply = await client.request({
    id: `bench-agent-${process.pid}-${++sequence}`,
    prompt: AGENT_PROMPT,
    model: `fake:${AGENT_SCENARIO}`,
    tools: [AGENT_TOOL],
  });
  if (reply.status !== "completed" || reply.answer !== AGENT_ANSWER || reply.toolCalls.length !== 1) {
    throw new Error(`agent request ${reply.status}: ${JSON.stringify(reply.error ?? reply.toolCalls)}`);
  }
}

async function measure(inFlight: number, requests: number, budgetMs: number, operation: () => Promise<void>) {
  const run = await closedLoop(inFlight, requests, operation, budgetMs);
  return {
    latencyMs: summarize(run.latenciesMs),
    requestsPerSecond: (run.latenciesMs.length * 1000) / run.elapsedMs,
  };
}

/** Messages ever stored in each of the project's streams and buckets (`last_seq`), by stream name. */
export async function storedCounts(jsm: JetStreamManager): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for await (const info of jsm.streams.list()) {
    if (/^(TF_|KV_tf_|OBJ_tf_)/.test(info.config.name)) counts.set(info.config.name, info.state.last_seq);
  }
  return counts;
}

/** Every actor's RSS now, by pid. */
export function actorRss(actors: ActorProcesses): Map<number, number> {
  return new Map(actors.pids().map(({ pid }) => [pid, rssBytes(pid)]));
}

/**
 * The issue-18 workload: a real agent request (model turn, one remote tool call, model turn) through
 * the stack beside the raw relay, at each level of requests in flight, side by side; and the stack's
 * costs. `fresh` is each actor's RSS read before any load.
 */
export async function agentWorkload(
  systems: {
    client: ToolformerClient;
    relay: RawRelay;
    actors: ActorProcesses;
    jsm: JetStreamManager;
    /** The nats-server both sides use: its CPU per request is counted for each. */
    natsServerPid: number;
    /** Runs the relay in a process of its own at a level and reads its RSS (relay-footprint.ts). */
    relayFootprint: (load: RelayLoad) => Promise<RelayFootprint>;
  },
  plan: AgentPlan,
  fresh: Map<number, number>,
): Promise<AgentResult> {
  const pids = systems.actors.pids();
  const peak = new Map(fresh);
  const largestLevel = plan.levels.reduce((most, level) => (level.inFlight > most.inFlight ? level : most));
  const largest = largestLevel.inFlight;
  let stackRequests = 0;
  let relayRequests = 0;
  const stack = () => stackRequest(systems.client).then(() => void stackRequests++);
  const relay = () => systems.relay.request().then(() => void relayRequests++);
  await closedLoop(1, plan.warmup, stack);
  await closedLoop(1, plan.warmup, relay);
  const levels: AgentLevel[] = [];
  const storedBefore = await storedCounts(systems.jsm);
  stackRequests = 0;
  relayRequests = 0;
  const cpuUsed = new Map<number, number>();
  const serverCpu = { stack: 0, relay: 0 };
  const server = systems.natsServerPid;
  for (const { inFlight, requests } of plan.levels) {
    const sampler =
      inFlight === largest
        ? setInterval(() => {
            for (const { pid } of pids) peak.set(pid, Math.max(peak.get(pid) ?? 0, rssBytes(pid)));
          }, plan.sampleEveryMs)
        : undefined;
    const cpuBefore = new Map([...pids.map(({ pid }) => [pid, cpuMs(pid)] as const), [server, cpuMs(server)]]);
    const stackSide = await measure(inFlight, requests, plan.levelBudgetMs, stack);
    for (const { pid } of pids) cpuUsed.set(pid, (cpuUsed.get(pid) ?? 0) + cpuMs(pid) - (cpuBefore.get(pid) ?? 0));
    serverCpu.stack += cpuMs(server) - (cpuBefore.get(server) ?? 0);
    clearInterval(sampler);
    const serverBeforeRelay = cpuMs(server);
    const relaySide = await measure(inFlight, requests, plan.levelBudgetMs, relay);
    serverCpu.relay += cpuMs(server) - serverBeforeRelay;
    levels.push({ inFlight, stack: stackSide, relay: relaySide });
  }
  await new Promise((resolve) => setTimeout(resolve, plan.settleMs));
  const storedAfter = await storedCounts(systems.jsm);
  const storedPerRequest = Object.fromEntries(
    [...storedAfter]
      .map(([stream, count]) => [stream, (count - (storedBefore.get(stream) ?? 0)) / stackRequests] as const)
      .filter(([, perRequest]) => perRequest >= 0.05), // a bucket written now and then is not per request
  );
  const footprints = pids.map(({ name, pid }) => {
    const freshBytes = fresh.get(pid) ?? Number.NaN;
    const peakBytes = peak.get(pid) ?? Number.NaN;
    return {
      actor: name,
      pid,
      freshBytes,
      peakBytes,
      afterLoadBytes: rssBytes(pid),
      bytesPerInFlightCall: Math.max(0, peakBytes - freshBytes) / largest,
      cpuMsPerRequest: (cpuUsed.get(pid) ?? 0) / stackRequests,
    };
  });
  const relayAlone = await systems.relayFootprint({
    ...largestLevel,
    budgetMs: plan.levelBudgetMs,
    settleMs: plan.settleMs,
    sampleEveryMs: plan.sampleEveryMs,
  });
  const sum = (pick: (m: ActorFootprint) => number) => footprints.reduce((total, m) => total + pick(m), 0);
  return {
    levels,
    natsServerCpuMsPerRequest: { stack: serverCpu.stack / stackRequests, relay: serverCpu.relay / relayRequests },
    storedPerRequest,
    footprints,
    total: {
      freshBytes: sum((m) => m.freshBytes),
      peakBytes: sum((m) => m.peakBytes),
      afterLoadBytes: sum((m) => m.afterLoadBytes),
      bytesPerInFlightCall: sum((m) => m.bytesPerInFlightCall),
      cpuMsPerRequest: sum((m) => m.cpuMsPerRequest),
    },
    relay: relayAlone,
  };
}

/** The agent levels as table rows (latency and throughput, the relay's ratio to the stack's). */
export function agentRows(levels: readonly AgentLevel[]): Row[] {
  return levels.flatMap(({ inFlight, stack, relay }) => {
    const workload = `agent, ${inFlight} in flight`;
    const throughput = (side: AgentSide) => summarize([side.requestsPerSecond]);
    return [
      { workload, system: "orchestrator", metric: "ms per request", summary: stack.latencyMs, vsOrchestrator: 1 },
      {
        workload,
        system: "raw relay",
        metric: "ms per request",
        summary: relay.latencyMs,
        vsOrchestrator: ratio(relay.latencyMs.median, stack.latencyMs.median),
      },
      {
        workload,
        system: "orchestrator",
        metric: "requests per second",
        summary: throughput(stack),
        vsOrchestrator: 1,
      },
      {
        workload,
        system: "raw relay",
        metric: "requests per second",
        summary: throughput(relay),
        vsOrchestrator: ratio(relay.requestsPerSecond, stack.requestsPerSecond),
      },
    ];
  });
}

const fixed = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : "-");
const mib = (bytes: number) => fixed(bytes / 2 ** 20, 0);

/** Markdown tables: stack beside relay with stack/relay ratios, then what each actor cost. */
export function renderAgentTables(result: AgentResult): string {
  const best = Math.max(...result.levels.map((level) => level.stack.requestsPerSecond));
  const latency = [
    "| in flight | stack p50 / p99 ms | relay p50 / p99 ms | p50 stack/relay | p99 stack/relay | stack req/s | relay req/s | req/s stack/relay | stack req/s ÷ best level |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...result.levels.map(({ inFlight, stack, relay }) =>
      [
        inFlight,
        `${fixed(stack.latencyMs.median)} / ${fixed(stack.latencyMs.p99)}`,
        `${fixed(relay.latencyMs.median)} / ${fixed(relay.latencyMs.p99)}`,
        `${fixed(ratio(stack.latencyMs.median, relay.latencyMs.median))}×`,
        `${fixed(ratio(stack.latencyMs.p99, relay.latencyMs.p99))}×`,
        fixed(stack.requestsPerSecond, 0),
        fixed(relay.requestsPerSecond, 0),
        `${fixed(ratio(stack.requestsPerSecond, relay.requestsPerSecond), 3)}×`,
        fixed(stack.requestsPerSecond / best),
      ].join(" | "),
    ),
  ].map((line) => (line.startsWith("|") ? line : `| ${line} |`));
  const memoryLine = (name: string, m: Omit<ActorFootprint, "actor" | "pid">) =>
    `| ${name} | ${mib(m.freshBytes)} | ${mib(m.peakBytes)} | ${mib(m.afterLoadBytes)} | ${fixed(m.bytesPerInFlightCall / 1024, 1)} | ${fixed(m.cpuMsPerRequest)} |`;
  const memory = [
    "| actor | RSS fresh MiB | peak under load MiB | after load MiB | KB per in-flight call | CPU ms per request |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...result.footprints.map((m) => memoryLine(`${m.actor} (pid ${m.pid})`, m)),
    memoryLine("**total**", result.total),
    memoryLine(`raw relay, alone in a process (${result.relay.inFlight} in flight)`, {
      ...result.relay,
      bytesPerInFlightCall: result.relay.bytesPerInFlightRequest,
      cpuMsPerRequest: Number.NaN,
    }),
  ];
  const stored = Object.entries(result.storedPerRequest);
  const writes = [
    `messages stored per request: ${fixed(
      stored.reduce((sum, [, perRequest]) => sum + perRequest, 0),
      1,
    )} (${stored.map(([stream, perRequest]) => `${stream} ${fixed(perRequest, 1)}`).join(", ")})`,
  ];
  const server = result.natsServerCpuMsPerRequest;
  writes.push(
    `nats-server CPU ms per request: ${fixed(server.stack)} under the stack, ${fixed(server.relay)} under the relay`,
  );
  return [...latency, "", ...memory, "", ...writes].join("\n");
}
