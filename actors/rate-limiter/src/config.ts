import { readFileSync } from "node:fs";
import { z } from "zod";
import { RateLimitsConfigSchema } from "@toolformer/protocol";
import { BaseConfigSchema, baseConfigFromEnv, parseConfig, parseJsonSetting } from "@toolformer/runtime";

export const DEFAULT_AGING_MS = 1_000;

export const RateLimiterConfigSchema = BaseConfigSchema.extend({
  /** The operator's scopes (global, per tenant, per group of tools), from the file in TF_RATE_LIMITS_FILE. */
  rateLimits: RateLimitsConfigSchema.default({ scopes: [] }),
  /** Waiting this long in a line counts as one priority level more (TF_RATELIMIT_AGING_MS). */
  agingMs: z.coerce.number().int().min(1).default(DEFAULT_AGING_MS),
});
export type RateLimiterConfig = z.infer<typeof RateLimiterConfigSchema>;

export function rateLimiterConfigFromEnv(env: NodeJS.ProcessEnv): RateLimiterConfig {
  const file = env.TF_RATE_LIMITS_FILE;
  return parseConfig(RateLimiterConfigSchema, {
    ...baseConfigFromEnv(env),
    rateLimits: file ? parseJsonSetting(readFileSync(file, "utf8"), `TF_RATE_LIMITS_FILE (${file})`) : undefined,
    agingMs: env.TF_RATELIMIT_AGING_MS,
  });
}
