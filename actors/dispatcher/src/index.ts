export { dispatcherActor, REQUEST_ACK_WAIT_MS } from "./dispatcher.ts";
export type { ModelLimits } from "./model-limits.ts";
export type { TenantPolicies } from "./tenancy.ts";
