import type { NatsConnection } from "@nats-io/transport-node";
import {
  concurrencyRenewMs,
  concurrencyScope,
  type ExecCall,
  type RateLimitFeedback,
  type RateLimitScope,
} from "@toolformer/protocol";
import { type Logger } from "@toolformer/runtime";
import {
  acquirePermits,
  BLOCK_ONLY_LIMIT,
  sendRateLimitFeedback,
  type ConfiguredScopes,
  type UpstreamBlocks,
} from "@toolformer/rate-limit-client";

/**
 * Concurrency caps that apply to a call: its tool's, and the cap on all calls of the cluster; and how
 * long any place this copy's calls hold is kept without a renewal (TF_CONCURRENCY_LEASE_MS).
 */
export interface ConcurrencyCaps {
  tool?: number | undefined;
  all?: number | undefined;
  leaseMs: number;
}

/** A call's permits, granted. */
export interface Permit {
  /** The scopes whose lines the call waited in before its grant (empty: it waited for none). */
  waitedFor: string[];
  /** To be called as the tool starts: a late start is counted again from then (`Granted`). */
  started(): void;
  /**
   * The call holds concurrency places: while it runs, `renew` must be called every `everyMs` (a third of
   * their lease) or they free. A renewal that no limiter hears is sent again until the next one is due,
   * then only logged: it never fails the call. Absent: the call holds no place.
   */
  renewal?: { everyMs: number; renew(): Promise<void> } | undefined;
  /**
   * Gives back the call's places on every concurrency scope it took, whatever the configuration is now,
   * and stops a renewal still being sent.
   */
  release(): Promise<void>;
}

/**
 * The tool's own scope: its declared limit, or block-only (it counts nothing, but the tool's 429 blocks
 * it, `tool-rate-limited.ts`).
 */
export function toolScope(call: Pick<ExecCall, "tool" | "rateLimit">): RateLimitScope {
  return { key: `tool:${call.tool}`, ...(call.rateLimit ?? BLOCK_ONLY_LIMIT) };
}

/**
 * Waits for the call's permits right before it starts, so "at most n starts per window" holds at the
 * moment that matters to the upstream API (docs/adr/0002): the tool's own limit, every operator scope
 * that applies (windows, and caps such as a tenant's), the call's extra scopes (a speculative call's
 * budgets), and a place under each concurrency cap. Every place is leased for `caps.leaseMs`, whoever
 * built its scope (an operator's cap, the speculation share): this copy renews it while the call runs,
 * so the lease is its promise. The permit gives those places back when the call ends: the scopes taken,
 * kept here, so a configuration changed meanwhile frees exactly what was taken. A call no limit applies
 * to asks only while its tool is known to be blocked. `stopAsking`: see `acquirePermits`.
 */
export async function acquirePermit(
  nc: NatsConnection,
  configured: ConfiguredScopes,
  blocks: UpstreamBlocks,
  caps: ConcurrencyCaps,
  call: ExecCall,
  signal: AbortSignal,
  log: Logger,
  stopAsking?: AbortSignal,
): Promise<Permit> {
  const target = { kind: "tool", name: call.tool } as const;
  const scopes: RateLimitScope[] = [
    toolScope(call),
    ...configured.for(target, call.tenant),
    ...call.extraScopes,
    ...(caps.tool === undefined ? [] : [concurrencyScope(`concurrency:tool:${call.tool}`, caps.tool)]),
    ...(caps.all === undefined ? [] : [concurrencyScope("concurrency:all", caps.all)]),
  ].map((scope) => (scope.concurrent ? { ...scope, intervalMs: caps.leaseMs } : scope));
  const concurrent = scopes.filter((scope) => scope.concurrent);
  const { requestId, callId, attempt, deadline, traceparent } = call;
  const places = { requestId, callId, attempt, deadline, traceparent, scopes: concurrent };
  const released = new AbortController();
  const release = async () => {
    released.abort();
    await sendRateLimitFeedback(nc, { op: "release", ...places }).catch((error: unknown) =>
      log.warn(
        { err: error, requestId, callId },
        "could not give back a concurrency place; it frees when its lease ends",
      ),
    );
  };
  // The tool's own scope alone, block-only and not known to be blocked: the limiter would grant at once.
  const { waitedFor, started } = blocks.noneKnownBlocked(scopes)
    ? { waitedFor: [], started: () => {} }
    : await acquirePermits(
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
        stopAsking,
      ).catch((error: unknown) => {
        // A limiter may have granted places to a question its caller gave up on (it keeps them for the
        // holder's next ask, waiting-room.ts): a call that will never ask again gives them back. A
        // stopping copy's call will, at the copy it is handed to, and takes the same places then.
        if (concurrent.length > 0 && !stopAsking?.aborted) void release();
        throw error;
      });
  if (concurrent.length === 0) return { waitedFor, started, release: async () => {} };
  const everyMs = concurrencyRenewMs(caps.leaseMs);
  const renew = async () => {
    if (released.signal.aborted) return;
    const renewal: RateLimitFeedback = { op: "renew", ...places };
    // Sent again while no limiter hears it, until the next renewal is due (or the places go back).
    await sendRateLimitFeedback(nc, renewal, { giveUpAt: Date.now() + everyMs, signal: released.signal }).catch(
      (error: unknown) => {
        if (released.signal.aborted) return;
        log.warn(
          { err: error, requestId, callId },
          "could not renew the call's concurrency places; the next renewal may, before their lease ends",
        );
      },
    );
  };
  return { waitedFor, started, renewal: { everyMs, renew }, release };
}
