export { executorActor, type ExecutorOptions } from "./executor.ts";
export { ExecutorConfigSchema, executorConfigFromEnv, type ExecutorConfig } from "./config.ts";
export { selectExampleTools } from "./select-tools.ts";
