import { RetryableError } from "@toolformer/protocol";
import { backoffDelayMs, type BackoffPolicy } from "@toolformer/runtime";

export const MAX_MODEL_ATTEMPTS = 5;
/** The runtime's one backoff, paced for a provider's overload: from up to 200 ms, doubling, to up to 10 s. */
export const MODEL_BACKOFF: BackoffPolicy = { firstDelayMs: 200, maxDelayMs: 10_000 };

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
  const delayMs = Math.max(error.retryAfterMs, backoffDelayMs(attempt, MODEL_BACKOFF, random));
  if (now + delayMs >= deadline)
    return { retry: false, reason: `a retry after ${Math.round(delayMs)} ms would pass the deadline` };
  return { retry: true, delayMs };
}
