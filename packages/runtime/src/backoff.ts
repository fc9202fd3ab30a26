import { errors, RequestError } from "@nats-io/transport-node";
import { JetStreamApiError } from "@nats-io/jetstream";

/** Exponential backoff with full jitter: the one retry pace of the runtime (JetStream writes, redeliveries). */
export interface BackoffPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
}

/** For writes to JetStream while a stream elects a leader or a client reconnects: seconds, not minutes. */
export const DEFAULT_BACKOFF: BackoffPolicy = { firstDelayMs: 50, maxDelayMs: 1_000 };

/**
 * The pause before try `attempt + 1` after `attempt` failures (1, 2, ...): a random share of
 * `firstDelayMs * 2^(attempt-1)`, capped at `maxDelayMs`. Full jitter keeps copies that failed together
 * from retrying together. `random` is in [0, 1).
 */
export function backoffDelayMs(
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random = Math.random(),
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(1, Math.round(random * ceiling));
}

/**
 * Whether a failed NATS or JetStream operation may succeed when tried again unchanged: nobody answered
 * (a stream electing a leader, a node restarting, "jetstream is not enabled"), the answer timed out, or
 * the server said it is temporarily unable (503). A refusal (wrong last sequence, a message too large,
 * a bad request) fails the same way every time and is not transient.
 */
export function isTransient(error: unknown): boolean {
  // What a JetStream publish throws when no stream leader answers (the class is not exported).
  if (error instanceof Error && error.name === "JetStreamNotEnabled") return true;
  if (error instanceof errors.TimeoutError) return true;
  if (isNoResponders(error)) return true;
  if (error instanceof RequestError) return error.cause instanceof errors.TimeoutError;
  if (error instanceof JetStreamApiError) return error.status === 503 || error.status === 408 || error.status === 504;
  if (error instanceof errors.ClosedConnectionError) return false;
  // Errors the client raises while it reconnects carry no class of their own.
  return /no responders|timeout|timed out|not enabled|disconnect|reconnect|no leader|leader/i.test(String(error));
}

/** Whether a request found nobody subscribed to its subject (a service away, a stream without a leader). */
export function isNoResponders(error: unknown): boolean {
  return error instanceof errors.NoRespondersError || (error instanceof RequestError && error.isNoResponders());
}

export interface UntilStoredOptions {
  /** No try starts after this (epoch ms): normally the request's deadline. */
  giveUpAt: number;
  signal?: AbortSignal | undefined;
  policy?: BackoffPolicy;
}

/**
 * Runs a JetStream write or read again after transient failures until it succeeds or `giveUpAt` passes,
 * so one node of a replicated cluster dying costs latency, not work. Only for operations that are safe
 * to repeat: a publish with a `Nats-Msg-Id`, a KV read, a compare-and-set that rereads.
 */
export async function untilStored<T>(
  operation: (attempt: number) => Promise<T>,
  options: UntilStoredOptions,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      const pauseMs = backoffDelayMs(attempt, options.policy);
      if (!isTransient(error) || options.signal?.aborted || Date.now() + pauseMs >= options.giveUpAt) throw error;
      await pause(pauseMs, options.signal);
    }
  }
}

/** Waits `ms`, or less if `signal` aborts first; never rejects, so a loop checks its signal after it. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
