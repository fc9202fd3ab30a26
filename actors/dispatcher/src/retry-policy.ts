import { RetryableError } from "@toolformer/protocol";

export const MAX_MODEL_ATTEMPTS = 5;
export const BASE_BACKOFF_MS = 200;
export const MAX_BACKOFF_MS = 10_000;

export type RetryDecision = { retry: true; delayMs: number } | { retry: false; reason: string };

/**
 * Whether to ask the model again after a failure. Only retryable errors are retried: the provider's
 * advised wait (429 retry-after) is honoured, otherwise exponential backoff with full jitter; and never
 * when the wait would end past the request's deadline.
 */
export function decideRetry(
  error: unknown,
  attempt: number,
  now: number,
  deadline: number,
  random: number,
): RetryDecision {
  if (!(error instanceof RetryableError)) return { retry: false, reason: "not retryable" };
  if (attempt >= MAX_MODEL_ATTEMPTS) return { retry: false, reason: `gave up after ${attempt} attempts` };
  const backoff = random * Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** (attempt - 1));
  const delayMs = Math.max(error.retryAfterMs, backoff);
  if (now + delayMs >= deadline)
    return { retry: false, reason: `a retry after ${Math.round(delayMs)} ms would pass the deadline` };
  return { retry: true, delayMs };
}
