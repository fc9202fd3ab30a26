import type { NatsConnection } from "@nats-io/transport-node";
import type { ExecCall } from "@toolformer/protocol";
import { acquirePermits } from "@toolformer/runtime";

/**
 * Waits for the tool's rate-limit permit right before the call starts, so "at most n starts per
 * window" holds at the moment that matters to the upstream API (docs/adr/0002).
 */
export async function acquirePermit(nc: NatsConnection, call: ExecCall, signal: AbortSignal): Promise<void> {
  if (!call.rateLimit) return;
  await acquirePermits(
    nc,
    {
      requestId: call.requestId,
      callId: call.callId,
      attempt: call.attempt,
      deadline: call.deadline,
      traceparent: call.traceparent,
      scopes: [{ key: `tool:${call.tool}`, ...call.rateLimit }],
    },
    signal,
  );
}
