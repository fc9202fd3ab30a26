import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ACTOR_MALLOC_ENV, ACTOR_NODE_FLAGS } from "@toolformer/cli";
import { natsAuthToEnv, type NatsAuth } from "@toolformer/client";

const SCRIPT = fileURLToPath(new URL("./relay-footprint-process.ts", import.meta.url));

/** What the raw relay holds, alone in a process that runs as an actor does (node flags, malloc settings). */
export interface RelayFootprint {
  inFlight: number;
  freshBytes: number;
  peakBytes: number;
  afterLoadBytes: number;
  /** (peak - fresh) / requests in flight: what one request in flight costs the bare hops. */
  bytesPerInFlightRequest: number;
}

/** The load the relay runs alone: a level of the agent workload, with its budget and RSS readings. */
export interface RelayLoad {
  inFlight: number;
  requests: number;
  /** No request starts after this long (the ones in flight are let finish), as at the stack's level. */
  budgetMs: number;
  settleMs: number;
  sampleEveryMs: number;
}

/**
 * The yardstick for the stack's memory per call in flight: the relay, which keeps nothing durable, in a
 * process of its own (in the benchmark's process its requests' memory could not be told apart), with
 * the load generator beside it, at the stack's largest level.
 */
export async function measureRelayFootprint(
  options: RelayLoad & { natsUrl: string; auth: NatsAuth; modelBaseUrl: string; freshIdleMs: number },
): Promise<RelayFootprint> {
  const child = spawn(process.execPath, [...ACTOR_NODE_FLAGS, SCRIPT], {
    env: {
      ...process.env,
      ...ACTOR_MALLOC_ENV,
      ...natsAuthToEnv(options.auth),
      NATS_URL: options.natsUrl,
      MODEL_URL: options.modelBaseUrl,
      IN_FLIGHT: String(options.inFlight),
      REQUESTS: String(options.requests),
      BUDGET_MS: String(options.budgetMs),
      FRESH_IDLE_MS: String(options.freshIdleMs),
      SETTLE_MS: String(options.settleMs),
      SAMPLE_EVERY_MS: String(options.sampleEveryMs),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`the relay's footprint process exited with ${code}`);
  const read = JSON.parse(output) as Omit<RelayFootprint, "inFlight" | "bytesPerInFlightRequest">;
  return {
    inFlight: options.inFlight,
    ...read,
    bytesPerInFlightRequest: Math.max(0, read.peakBytes - read.freshBytes) / options.inFlight,
  };
}
