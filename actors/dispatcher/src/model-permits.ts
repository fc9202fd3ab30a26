import type { NatsConnection } from "@nats-io/transport-node";
import type { RateLimitScope, RequestRun } from "@toolformer/protocol";
import {
  acquirePermits,
  sendRateLimitFeedback,
  type Granted,
  type UpstreamBlocks,
} from "@toolformer/rate-limit-client";

/** What a model turn does with the rate limiters around each attempt. */
export interface ModelPermits {
  /** Resolves with what to call as the model's request goes out (`Granted.started`). */
  acquire(attempt: number, signal: AbortSignal): Promise<Granted["started"]>;
  /** The real token count, replacing the estimate the permit was taken with. */
  settle(attempt: number, usedTokens: number): Promise<void>;
  /** The provider said "too many" (429): nobody asks this model again before `until`. */
  block(until: number): Promise<void>;
}

/**
 * A model's permits for one turn of `run`; undefined when no scope applies. A turn whose scopes are all
 * block-only (a model without configured limits) is not asked about while `blocks` knows none of them
 * blocked: the limiter would only grant it at once.
 */
export function modelPermits(
  nc: NatsConnection,
  run: RequestRun,
  round: number,
  scopes: RateLimitScope[],
  blocks: UpstreamBlocks,
): ModelPermits | undefined {
  if (scopes.length === 0) return undefined;
  const envelope = (attempt: number) => ({
    requestId: run.requestId,
    callId: `model-r${round}`,
    attempt,
    deadline: run.deadline,
    traceparent: run.traceparent,
  });
  const { model, options } = run.request;
  const target = { kind: "model", name: model } as const;
  const tokenScope = scopes.find((scope) => scope.cost !== undefined);
  return {
    async acquire(attempt, signal) {
      if (blocks.noneBlocked(scopes)) return () => {};
      const { started } = await acquirePermits(
        nc,
        { ...envelope(attempt), scopes, target, tenant: options.tenant, priority: options.priority },
        signal,
      );
      return started;
    },
    async settle(attempt, usedTokens) {
      if (tokenScope)
        await sendRateLimitFeedback(nc, { op: "correct", ...envelope(attempt), scope: tokenScope, cost: usedTokens });
    },
    async block(until) {
      blocks.blocked(scopes, until);
      for (const scope of scopes) await sendRateLimitFeedback(nc, { op: "block", ...envelope(1), scope, until });
    },
  };
}
