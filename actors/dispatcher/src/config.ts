import { BaseConfigSchema, baseConfigFromEnv, parseConfig, parseJsonSetting } from "@toolformer/runtime";
import { providerEndpointsFromEnv, ProviderEndpointsSchema } from "@toolformer/providers";
import { z } from "zod";
import { ModelLimitsSchema } from "./model-limits.ts";
import { TenantPoliciesSchema } from "./tenancy.ts";

export const DEFAULT_MAX_CONCURRENT_REQUESTS = 1_000;

export const DispatcherConfigSchema = BaseConfigSchema.extend({
  ...ProviderEndpointsSchema.shape,
  maxConcurrentRequests: z.coerce.number().int().min(1).default(DEFAULT_MAX_CONCURRENT_REQUESTS),
  /** Whether requests that do not say speculate (`options.speculation`): TF_SPECULATION_DEFAULT=on|off. */
  speculationDefault: z.enum(["on", "off"]).default("off"),
  /** Request and token limits per model (JSON in TF_MODEL_LIMITS), enforced across every dispatcher. */
  modelLimits: ModelLimitsSchema.default({}),
  /** What each tenant account's requests may ask for (JSON in TF_TENANT_POLICIES; ADR 0017). */
  tenantPolicies: TenantPoliciesSchema.default({}),
});
export type DispatcherConfig = z.infer<typeof DispatcherConfigSchema>;

/** Provider settings come from the variables the official SDKs read themselves. */
export function dispatcherConfigFromEnv(env: NodeJS.ProcessEnv): DispatcherConfig {
  return parseConfig(DispatcherConfigSchema, {
    ...baseConfigFromEnv(env),
    ...providerEndpointsFromEnv(env),
    maxConcurrentRequests: env.TF_DISPATCHER_MAX_REQUESTS,
    speculationDefault: env.TF_SPECULATION_DEFAULT,
    modelLimits: env.TF_MODEL_LIMITS ? parseJsonSetting(env.TF_MODEL_LIMITS, "TF_MODEL_LIMITS") : undefined,
    tenantPolicies: env.TF_TENANT_POLICIES ? parseJsonSetting(env.TF_TENANT_POLICIES, "TF_TENANT_POLICIES") : undefined,
  });
}
