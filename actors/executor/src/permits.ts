import type { NatsConnection } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import { AcquireReplySchema, INTERNAL_SUBJECTS, type AcquireRequest, type ExecCall } from "@toolformer/protocol";
import { decodeValidated, encodeInternal, internalHeaders } from "@toolformer/runtime";

const ACQUIRE_TIMEOUT_MS = 2_000;
const NO_LIMITER_BACKOFF_MS = 200;

/**
 * Waits until every rate-limit scope of the call admits it. The permit is taken right before the tool
 * starts, so "at most n starts per window" holds at the moment that matters to the upstream API.
 * Rejects with the signal's reason when the call is cancelled or its deadline passes first.
 */
export async function acquirePermit(nc: NatsConnection, call: ExecCall, signal: AbortSignal): Promise<void> {
  if (!call.rateLimit) return;
  const request: AcquireRequest = {
    requestId: call.requestId,
    callId: call.callId,
    attempt: call.attempt,
    deadline: call.deadline,
    traceparent: call.traceparent,
    scopes: [{ key: `tool:${call.tool}`, ...call.rateLimit }],
  };
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
      if (decoded.ok && !decoded.value.granted) waitMs = Math.max(1, decoded.value.retryAfterMs);
    } catch {
      // No limiter answered (none running yet, or one restarting): ask again shortly.
    }
    await sleep(waitMs, undefined, { signal });
  }
}
