import { providerEndpointsFromEnv, ProviderEndpointsSchema } from "@toolformer/providers";
import { BaseConfigSchema, baseConfigFromEnv, parseConfig } from "@toolformer/runtime";
import { z } from "zod";

const share = z.coerce.number().min(0).max(1);

/** How the speculation engine predicts and what it may spend (docs/adr/0010). */
export const SpeculationOptionsSchema = z.object({
  ...ProviderEndpointsSchema.shape,
  /** `<provider>:<model>` of the cheaper model asked to predict each turn's calls; none: history only. */
  fastModel: z.string().min(3).optional(),
  threshold: share.default(0.6),
  maxPerRequest: z.coerce.number().int().min(0).default(8),
  rateShare: share.default(0.25),
  executorShare: share.default(0.25),
  concurrencyWhenUnknown: z.coerce.number().int().min(1).default(4),
  /** Model turns a state must have been seen in before its history predicts anything. */
  minObservations: z.coerce.number().int().min(1).default(2),
});
export type SpeculationOptions = z.infer<typeof SpeculationOptionsSchema>;

export const SpeculationConfigSchema = BaseConfigSchema.extend(SpeculationOptionsSchema.shape);
export type SpeculationConfig = z.infer<typeof SpeculationConfigSchema>;

export function speculationConfigFromEnv(env: NodeJS.ProcessEnv): SpeculationConfig {
  return parseConfig(SpeculationConfigSchema, {
    ...baseConfigFromEnv(env),
    ...providerEndpointsFromEnv(env),
    fastModel: env.TF_SPECULATION_FAST_MODEL,
    threshold: env.TF_SPECULATION_THRESHOLD,
    maxPerRequest: env.TF_SPECULATION_MAX_PER_REQUEST,
    rateShare: env.TF_SPECULATION_RATE_SHARE,
    executorShare: env.TF_SPECULATION_EXECUTOR_SHARE,
    concurrencyWhenUnknown: env.TF_SPECULATION_MAX_CONCURRENT_PER_TOOL,
    minObservations: env.TF_SPECULATION_MIN_OBSERVATIONS,
  });
}
