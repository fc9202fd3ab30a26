import { BaseConfigSchema, baseConfigFromEnv, parseConfig, parseJsonSetting } from "@toolformer/runtime";
import { z } from "zod";
import { ModelLimitsSchema } from "./model-limits.ts";

export const DEFAULT_MAX_CONCURRENT_REQUESTS = 1_000;

const Endpoint = z.object({ apiKey: z.string().min(1), baseURL: z.string().url().optional() });

export const DispatcherConfigSchema = BaseConfigSchema.extend({
  maxConcurrentRequests: z.coerce.number().int().min(1).default(DEFAULT_MAX_CONCURRENT_REQUESTS),
  openai: Endpoint.optional(),
  anthropic: Endpoint.optional(),
  /** Base URL of the fake model server (its root; `/v1` is added for the OpenAI API). */
  fakeLlmUrl: z.string().url().optional(),
  /** Request and token limits per model (JSON in TF_MODEL_LIMITS), enforced across every dispatcher. */
  modelLimits: ModelLimitsSchema.default({}),
});
export type DispatcherConfig = z.infer<typeof DispatcherConfigSchema>;

/** Provider settings come from the variables the official SDKs read themselves. */
export function dispatcherConfigFromEnv(env: NodeJS.ProcessEnv): DispatcherConfig {
  const endpoint = (apiKey: string | undefined, baseURL: string | undefined) =>
    apiKey ? { apiKey, ...(baseURL ? { baseURL } : {}) } : undefined;
  return parseConfig(DispatcherConfigSchema, {
    ...baseConfigFromEnv(env),
    maxConcurrentRequests: env.TF_DISPATCHER_MAX_REQUESTS,
    openai: endpoint(env.OPENAI_API_KEY, env.OPENAI_BASE_URL),
    anthropic: endpoint(env.ANTHROPIC_API_KEY, env.ANTHROPIC_BASE_URL),
    fakeLlmUrl: env.FAKE_LLM_URL,
    modelLimits: env.TF_MODEL_LIMITS ? parseJsonSetting(env.TF_MODEL_LIMITS, "TF_MODEL_LIMITS") : undefined,
  });
}
