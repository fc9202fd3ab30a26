import { ToolformerClient } from "@toolformer/client";
import { waitForActors } from "@toolformer/cli";
import { startNatsServer, startOtlpReceiver } from "@toolformer/testing";
import { NOOP_TOOL } from "./noop-scenario.ts";
import type { Row } from "./report.ts";
import { cpuMs, spawnBenchActors } from "./services.ts";
import { ratio, summarize } from "./stats.ts";
import { orchestrate, repeat, type Plan } from "./workloads.ts";

export const TRACING_OFF = "orchestrator, tracing off";
export const TRACING_ON = "orchestrator, tracing on (OTLP)";

const COPIES = { dispatcher: 1, scheduler: 1, "rate-limiter": 1, speculation: 1, executor: 1 };

interface TwinStack {
  client: ToolformerClient;
  /** CPU time its actor processes have used so far, ms (a cost a busy machine disturbs far less than a timing). */
  actorCpuMs(): number;
  stop(): Promise<void>;
}

/** A stack of its own (nats-server and the five actors) with `env`, ready once it hosts `echo`. */
async function startTwin(fakeLlmUrl: string, env: NodeJS.ProcessEnv, name: string): Promise<TwinStack> {
  const nats = await startNatsServer();
  const actors = spawnBenchActors(nats, fakeLlmUrl, COPIES, env);
  const stop = async () => {
    await actors.stop();
    await nats.stop();
  };
  try {
    await waitForActors(nats.url, COPIES, 30_000, nats.credentials("admin"));
    const client = await ToolformerClient.connect(nats.url, name, nats.credentials("client"));
    while (!(await client.tools()).tools.some((tool) => tool.name === NOOP_TOOL))
      await new Promise((resolve) => setTimeout(resolve, 100));
    return {
      client,
      actorCpuMs: () => actors.pids().reduce((sum, { pid }) => sum + cpuMs(pid), 0),
      stop: async () => {
        await client.close();
        await stop();
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Tracing on against off, in this run: two fresh twin stacks (each its own nats-server, the same fake
 * model and settings), one of which exports every span over OTLP/HTTP to a receiver in this process.
 * The overhead workload (ms per call, the model's time taken out) alternates one request on each, so
 * both are as warm and see the same moments of a noisy machine. The ratio is on's median over off's.
 */
export async function tracingOverhead(
  fakeLlmUrl: string,
  env: NodeJS.ProcessEnv,
  plan: Pick<Plan, "overheadCalls" | "overheadReps" | "warmup">,
): Promise<{ rows: Row[]; spansExported: number }> {
  const receiver = await startOtlpReceiver();
  const twins: TwinStack[] = [];
  try {
    const off = await startTwin(fakeLlmUrl, env, "bench-untraced");
    twins.push(off);
    const on = await startTwin(fakeLlmUrl, { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }, "bench-traced");
    twins.push(on);
    const rows: Row[] = [];
    for (const calls of plan.overheadCalls) {
      const workload = `tracing overhead K=${calls}`;
      const metric = "ms per call";
      await repeat(plan.warmup, async () => {
        await orchestrate(off.client, calls);
        await orchestrate(on.client, calls);
      });
      const samples = { off: [] as number[], on: [] as number[] };
      const cpuBefore = { off: off.actorCpuMs(), on: on.actorCpuMs() };
      const timed = async (client: ToolformerClient, into: number[]) => {
        const t0 = performance.now();
        const modelMs = await orchestrate(client, calls);
        into.push((performance.now() - t0 - modelMs) / calls);
      };
      for (let i = 0; i < plan.overheadReps; i++) {
        // Which goes first alternates too: neither always follows the other's leftovers.
        const [first, second] = i % 2 === 0 ? [off, on] : [on, off];
        await timed(first.client, first === off ? samples.off : samples.on);
        await timed(second.client, second === off ? samples.off : samples.on);
      }
      const cpuPerRequest = (twin: TwinStack, before: number) =>
        summarize([(twin.actorCpuMs() - before) / plan.overheadReps]);
      const base = summarize(samples.off);
      const traced = summarize(samples.on);
      const baseCpu = cpuPerRequest(off, cpuBefore.off);
      const tracedCpu = cpuPerRequest(on, cpuBefore.on);
      const cpuMetric = "actors' CPU ms per request";
      rows.push(
        { workload, system: TRACING_OFF, metric, summary: base, vsOrchestrator: 1 },
        { workload, system: TRACING_ON, metric, summary: traced, vsOrchestrator: ratio(traced.median, base.median) },
        { workload, system: TRACING_OFF, metric: cpuMetric, summary: baseCpu, vsOrchestrator: 1 },
        {
          workload,
          system: TRACING_ON,
          metric: cpuMetric,
          summary: tracedCpu,
          vsOrchestrator: ratio(tracedCpu.median, baseCpu.median),
        },
      );
    }
    // Stopped actors flush what they hold: every span is in the receiver once they have exited.
    await Promise.all(twins.splice(0).map((twin) => twin.stop()));
    const spansExported = receiver.spans().length;
    if (spansExported === 0) throw new Error("tracing on exported no span: the comparison measured nothing");
    return { rows, spansExported };
  } finally {
    await Promise.all(twins.map((twin) => twin.stop()));
    await receiver.close();
  }
}

/**
 * For the result file: tracing on over off by K, in time per call (the issue's goal: at most 1.10) and
 * in the actors' CPU per request, and how many spans were exported.
 */
export function tracingSummary(result: { rows: Row[]; spansExported: number }): {
  ratioByCalls: Record<string, number>;
  cpuRatioByCalls: Record<string, number>;
  spansExported: number;
} {
  const ratiosOf = (metric: string) =>
    Object.fromEntries(
      result.rows
        .filter((row) => row.system === TRACING_ON && row.metric === metric)
        .map((row) => [row.workload.replace("tracing overhead ", ""), row.vsOrchestrator ?? Number.NaN]),
    );
  return {
    ratioByCalls: ratiosOf("ms per call"),
    cpuRatioByCalls: ratiosOf("actors' CPU ms per request"),
    spansExported: result.spansExported,
  };
}
