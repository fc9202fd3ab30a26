import type { BackoffPolicy } from "@toolformer/runtime";

/** Tries of one idempotent call before its error is final (the call flow decides, `call-flow.ts`). */
export const IDEMPOTENT_ATTEMPTS = 3;

/**
 * The pause before each further try of an idempotent tool, with the runtime's one backoff (full
 * jitter): up to 200 ms, then up to 400 ms. Short: a tool's failures that pass (a thrown exception, a
 * request that timed out or found no service while it reconnected) pass within the call's own timeout
 * or not at all.
 */
export const TOOL_RETRY_BACKOFF: BackoffPolicy = { firstDelayMs: 200, maxDelayMs: 1_000 };
