import type { NatsConnection } from "@nats-io/transport-node";
import type { ExecCall, RateLimitScope } from "@toolformer/protocol";
import { acquirePermits, type ConfiguredScopes } from "@toolformer/runtime";

/**
 * Waits for the call's rate-limit permits right before it starts, so "at most n starts per window"
 * holds at the moment that matters to the upstream API (docs/adr/0002): the tool's own limit and
 * every operator scope that applies. A call no limit applies to does not ask at all.
 */
export async function acquirePermit(
  nc: NatsConnection,
  configured: ConfiguredScopes,
  call: ExecCall,
  signal: AbortSignal,
): Promise<void> {
  const target = { kind: "tool", name: call.tool } as const;
  const scopes: RateLimitScope[] = [
    ...(call.rateLimit ? [{ key: `tool:${call.tool}`, ...call.rateLimit }] : []),
    ...configured.for(target, call.tenant),
  ];
  if (scopes.length === 0) return;
  await acquirePermits(
    nc,
    {
      requestId: call.requestId,
      callId: call.callId,
      attempt: call.attempt,
      deadline: call.deadline,
      traceparent: call.traceparent,
      target,
      tenant: call.tenant,
      priority: call.priority,
      scopes,
    },
    signal,
  );
}
