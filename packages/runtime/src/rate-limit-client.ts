import type { NatsConnection } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import {
  AcquireReplySchema,
  ErrorCode,
  INTERNAL_SUBJECTS,
  TerminalError,
  type AcquireRequest,
  type RateLimitFeedback,
} from "@toolformer/protocol";
import { decodeValidated, encodeInternal, internalHeaders } from "./wire.ts";

const ACQUIRE_TIMEOUT_MS = 2_000;
const NO_LIMITER_BACKOFF_MS = 200;

/**
 * Waits until every scope admits the request, asking the rate limiters again when they say when.
 * Rejects with RATE_LIMITED as soon as the wait could not end before the deadline (no point holding a
 * call that cannot start in time), and with the signal's reason when cancelled.
 */
export async function acquirePermits(nc: NatsConnection, request: AcquireRequest, signal: AbortSignal): Promise<void> {
  for (;;) {
    signal.throwIfAborted();
    let waitMs = NO_LIMITER_BACKOFF_MS;
    try {
      const reply = await nc.request(INTERNAL_SUBJECTS.rateLimitAcquire, encodeInternal(request), {
        headers: internalHeaders(request),
        timeout: ACQUIRE_TIMEOUT_MS,
      });
      const decoded = decodeValidated(reply.data, reply.headers, AcquireReplySchema);
      if (decoded.ok && decoded.value.granted) return;
      if (decoded.ok && !decoded.value.granted) {
        waitMs = Math.max(1, decoded.value.retryAfterMs);
        if (Date.now() + waitMs >= request.deadline) {
          throw new TerminalError(ErrorCode.RATE_LIMITED, `no room in ${decoded.value.scope} before the deadline`, {
            details: { scope: decoded.value.scope, retryAfterMs: waitMs },
          });
        }
      }
    } catch (error) {
      if (error instanceof TerminalError) throw error;
      // No limiter answered (none running yet, or one restarting): ask again shortly.
    }
    await sleep(waitMs, undefined, { signal });
  }
}

/** Tells the rate limiters what an admitted acquire really cost, or that an upstream said "too many". */
export async function sendRateLimitFeedback(nc: NatsConnection, feedback: RateLimitFeedback): Promise<void> {
  await nc.request(INTERNAL_SUBJECTS.rateLimitFeedback, encodeInternal(feedback), {
    headers: internalHeaders(feedback),
    timeout: ACQUIRE_TIMEOUT_MS,
  });
}
