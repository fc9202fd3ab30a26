import { runMain } from "@toolformer/runtime";
import { executorConfigFromEnv } from "./config.ts";
import { executorActor } from "./executor.ts";
import { selectExampleTools } from "./select-tools.ts";
import { loadToolModules } from "./tool-modules.ts";

const config = executorConfigFromEnv(process.env);
runMain(
  executorActor({
    tools: [...selectExampleTools(config.tools), ...(await loadToolModules(config.toolModules))],
    remoteTools: config.remoteTools,
    maxInFlightPerTool: config.maxInFlightPerTool,
    discoveryIntervalMs: config.discoveryIntervalMs,
    maxConcurrentCalls: config.maxConcurrentCalls,
    concurrencyLeaseMs: config.concurrencyLeaseMs,
    mcpServers: config.mcpServers,
    callAckWaitMs: config.callAckWaitMs,
    workerThreads: config.workerThreads,
    results: { spillBytes: config.resultSpillBytes, maxBytes: config.resultMaxBytes },
    maxDeliver: config.maxDeliver,
  }),
  config,
);
