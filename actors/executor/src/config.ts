import { CONCURRENCY_LEASE_MS } from "@toolformer/protocol";
import { BaseConfigSchema, baseConfigFromEnv, parseConfig, parseJsonSetting } from "@toolformer/runtime";
import { McpServersSchema } from "./mcp-servers.ts";
import { z } from "zod";

export const DEFAULT_MAX_IN_FLIGHT_PER_TOOL = 64;
export const DEFAULT_DISCOVERY_INTERVAL_MS = 2_000;

export const ExecutorConfigSchema = BaseConfigSchema.extend({
  /** Example tools to host, comma-separated; `*` for all of them, empty for none. */
  tools: z.string().default("*"),
  /** The users' own tool modules, comma-separated paths; every tool they export is hosted too. */
  toolModules: z.string().default(""),
  remoteTools: z.stringbool().default(true),
  maxInFlightPerTool: z.coerce.number().int().min(1).max(10_000).default(DEFAULT_MAX_IN_FLIGHT_PER_TOOL),
  discoveryIntervalMs: z.coerce.number().int().min(100).default(DEFAULT_DISCOVERY_INTERVAL_MS),
  /** Cluster-wide cap on calls running at once; the same on every executor. */
  maxConcurrentCalls: z.coerce.number().int().min(1).optional(),
  /**
   * How long a concurrency place this copy's call holds is kept without a renewal (renewed every third
   * of it while the call runs): about how long a place outlives an executor that died. The same on
   * every executor (a limiter counts a place by the lease of whoever asks for one).
   */
  concurrencyLeaseMs: z.coerce.number().int().min(1_000).default(CONCURRENCY_LEASE_MS),
  callAckWaitMs: z.coerce.number().int().min(100).optional(),
  workerThreads: z.coerce.number().int().min(1).max(256).optional(),
  resultSpillBytes: z.coerce.number().int().min(1_024).optional(),
  resultMaxBytes: z.coerce.number().int().min(1_024).optional(),
  maxDeliver: z.coerce.number().int().min(1).optional(),
  /** MCP servers to mount (docs/protocol.md#mcp-tools). */
  mcpServers: McpServersSchema.default({}),
});
export type ExecutorConfig = z.infer<typeof ExecutorConfigSchema>;

export function executorConfigFromEnv(env: NodeJS.ProcessEnv): ExecutorConfig {
  return parseConfig(ExecutorConfigSchema, {
    ...baseConfigFromEnv(env),
    tools: env.TF_EXECUTOR_TOOLS,
    toolModules: env.TF_EXECUTOR_TOOL_MODULES,
    remoteTools: env.TF_EXECUTOR_REMOTE_TOOLS,
    maxInFlightPerTool: env.TF_EXECUTOR_MAX_IN_FLIGHT,
    discoveryIntervalMs: env.TF_EXECUTOR_DISCOVERY_INTERVAL_MS,
    maxConcurrentCalls: env.TF_MAX_CONCURRENT_CALLS,
    concurrencyLeaseMs: env.TF_CONCURRENCY_LEASE_MS,
    callAckWaitMs: env.TF_EXECUTOR_ACK_WAIT_MS,
    workerThreads: env.TF_EXECUTOR_WORKERS,
    resultSpillBytes: env.TF_RESULT_SPILL_BYTES,
    resultMaxBytes: env.TF_RESULT_MAX_BYTES,
    maxDeliver: env.TF_EXECUTOR_MAX_DELIVER,
    mcpServers: env.TF_MCP_SERVERS === undefined ? undefined : parseJsonSetting(env.TF_MCP_SERVERS, "TF_MCP_SERVERS"),
  });
}
