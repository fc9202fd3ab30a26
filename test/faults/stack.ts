import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { spawnActors, waitForActors, type ActorCopy, type ActorProcesses } from "@toolformer/cli";
import { connectionOptions } from "@toolformer/client";
import { PUBLIC_SUBJECTS } from "@toolformer/protocol";
import { startNatsCluster, type NatsCluster } from "@toolformer/testing";
import type { FaultRunConfig } from "./config.ts";
import { startFaultModel, type FaultModel } from "./model.ts";
import { writeJson } from "./report.ts";
import { COMBINE_TOOL, WORK_TOOL } from "./scenario.ts";
import { startToolService, type ToolService } from "./tool-service.ts";

const STARTUP_TIMEOUT_MS = 90_000;

/** A 3-node cluster, the fake model, the tool service and every actor copy as its own process. */
export interface FaultStack {
  cluster: NatsCluster;
  model: FaultModel;
  tools: ToolService;
  actors: ActorProcesses;
  /** The test's own client connection (knows every node, reconnects forever). */
  nc: NatsConnection;
  /** Who hears of a copy that exited on its own (as a container's supervisor would). */
  supervise(onCrash: (copy: ActorCopy, why: string) => void): void;
  stop(): Promise<void>;
}

export async function startFaultStack(config: FaultRunConfig, runDir: string): Promise<FaultStack> {
  const logs = join(runDir, "logs");
  mkdirSync(logs, { recursive: true });
  const cleanups: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const cluster = await startNatsCluster({ size: 3 });
    cleanups.push(() => cluster.stop());
    const model = await startFaultModel(config.thinkMs);
    cleanups.push(() => model.server.close());
    const tools = await startToolService(cluster.urls, cluster.credentials("tool-provider"), {
      workMs: config.workMs,
      combineMs: config.combineMs,
    });
    cleanups.push(async () => await tools[Symbol.asyncDispose]());
    const limitsFile = join(runDir, "rate-limits.json");
    await writeJson(limitsFile, {
      scopes: [{ name: "fault-work", ...config.rateLimit, match: { kind: "tool", names: [WORK_TOOL] } }],
    });
    let onCrash: (copy: ActorCopy, why: string) => void = () => {};
    const actors = spawnActors(
      config.copies,
      {
        ...process.env,
        NATS_URL: cluster.url,
        // TF_FAULTS_LOG_LEVEL=info keeps what each copy did with each call, to follow one through a run.
        LOG_LEVEL: process.env.TF_FAULTS_LOG_LEVEL ?? "warn",
        METRICS_PORT: "0",
        FAKE_LLM_URL: model.server.url,
        TF_RATE_LIMITS_FILE: limitsFile,
        // Only the remote tools of the fault service: no example tools.
        TF_EXECUTOR_TOOLS: "",
      },
      {
        output: { dir: logs },
        credentials: cluster.credentials,
        onUnexpectedExit: (copy, why) => onCrash(copy, why),
      },
    );
    cleanups.push(() => actors.stop());
    await waitForActors(cluster.url, config.copies, STARTUP_TIMEOUT_MS, cluster.credentials("admin"));
    // The checker reads the orchestrator's own records as well as sending requests: the admin's rights.
    const nc = await connect({
      ...connectionOptions(cluster.url, cluster.credentials("admin")),
      name: "fault-client",
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    cleanups.push(() => nc.close());
    await waitForTools(nc, [WORK_TOOL, COMBINE_TOOL], STARTUP_TIMEOUT_MS);
    const supervise = (listener: typeof onCrash) => void (onCrash = listener);
    return { cluster, model, tools, actors, nc, supervise, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Waits (bounded) until `orchestrate.tools` lists every named tool. */
async function waitForTools(nc: NatsConnection, names: string[], timeoutMs: number): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  let listed = new Set<string>();
  while (Date.now() < giveUpAt) {
    try {
      const reply = await nc.request(PUBLIC_SUBJECTS.tools, "", { timeout: 2_000 });
      listed = new Set(reply.json<{ tools: { name: string }[] }>().tools.map((t) => t.name));
      if (names.every((name) => listed.has(name))) return;
    } catch {
      // no dispatcher answering yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`tools never appeared: ${names.filter((n) => !listed.has(n)).join(", ")}`);
}
