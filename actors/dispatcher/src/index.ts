export { dispatcherActor, providerRegistryFor } from "./dispatcher.ts";
export { DispatcherConfigSchema, dispatcherConfigFromEnv, type DispatcherConfig } from "./config.ts";
export { ModelLimitsSchema, type ModelLimits } from "./model-limits.ts";
