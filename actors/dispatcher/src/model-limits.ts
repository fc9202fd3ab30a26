import { z } from "zod";
import { RateLimitSchema, type RateLimitScope } from "@toolformer/protocol";
import type { ModelTurnRequest } from "@toolformer/providers";
import { BLOCK_ONLY_LIMIT } from "@toolformer/rate-limit-client";

/** Room kept for the model's answer when estimating a turn's tokens before it is known. */
export const OUTPUT_TOKENS_ALLOWANCE = 1024;

/**
 * Limits per model, keyed `"<provider>:<model>"` or `"<provider>:*"`: requests and tokens, each at most
 * `limit` in any `intervalMs` (requests per minute = `{ "limit": 500, "intervalMs": 60000 }`).
 */
export const ModelLimitsSchema = z.record(
  z.string().regex(/^[a-z]+:.+$/, 'keys are "<provider>:<model>" or "<provider>:*"'),
  z.strictObject({ requests: RateLimitSchema.optional(), tokens: RateLimitSchema.optional() }),
);
export type ModelLimits = z.infer<typeof ModelLimitsSchema>;

/** A model without a configured request limit still gets a request scope, block-only (its 429 blocks it). */
export const UNLIMITED_REQUESTS = BLOCK_ONLY_LIMIT;

/** The scopes one turn of `modelRef` must fit in, the token scope costing the estimate. */
export function modelScopes(limits: ModelLimits, modelRef: string, estimatedTokens: number): RateLimitScope[] {
  const provider = modelRef.slice(0, modelRef.indexOf(":"));
  const configured = limits[modelRef] ? modelRef : limits[`${provider}:*`] ? `${provider}:*` : undefined;
  const own = configured === undefined ? undefined : limits[configured];
  const scopeName = configured ?? modelRef;
  return [
    { key: `model-requests:${scopeName}`, ...(own?.requests ?? UNLIMITED_REQUESTS) },
    ...(own?.tokens ? [{ key: `model-tokens:${scopeName}`, ...own.tokens, cost: Math.max(1, estimatedTokens) }] : []),
  ];
}

/** Tokens a turn will use, estimated before the call: about four characters a token, plus room for the answer. */
export function estimateTurnTokens(request: ModelTurnRequest): number {
  const text = JSON.stringify([request.system ?? "", request.messages, request.tools]);
  return Math.ceil(text.length / 4) + OUTPUT_TOKENS_ALLOWANCE;
}
