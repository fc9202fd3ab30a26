export { dispatcherActor } from "./dispatcher.ts";
export type { ModelLimits } from "./model-limits.ts";
