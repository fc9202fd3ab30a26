import type { AcquireReply, AcquireRequest } from "@toolformer/protocol";
import { inSpan, remoteContext } from "@toolformer/runtime";

type Attributes = Record<string, string | number | boolean | string[]>;

/**
 * What a permit wait's span says before it is answered: for what, under which scopes, for which
 * request, and whether it only confirms a grant.
 */
export function waitSpanStart(
  request: Pick<AcquireRequest, "requestId" | "callId" | "scopes" | "target" | "priority" | "confirm">,
): Attributes {
  return {
    "toolformer.request.id": request.requestId,
    "toolformer.call.id": request.callId,
    "toolformer.ratelimit.target": `${request.target.kind}:${request.target.name}`,
    "toolformer.ratelimit.scopes": request.scopes.map((scope) => scope.key),
    "toolformer.ratelimit.priority": request.priority,
    // A second ask for a grant that reached its caller late: answered at once.
    "toolformer.ratelimit.confirm": request.confirm,
  };
}

/** How the wait ended: granted or why not (and on which scope), and how long it took here. */
export function waitSpanEnd(reply: AcquireReply, waitedMs: number): Attributes {
  return {
    "toolformer.ratelimit.waited_ms": waitedMs,
    "toolformer.ratelimit.granted": reply.granted,
    ...(reply.granted
      ? {}
      : { "toolformer.ratelimit.refusal": reply.reason, "toolformer.ratelimit.scope": reply.scope }),
  };
}

/**
 * One permit request's time in this limiter's line, as a `rate_limit.wait` span under the caller's span
 * (the acquire's `traceparent`): a tool's or a model turn's wait shows in the request's trace.
 */
export function waitInSpan(request: AcquireRequest, wait: () => Promise<AcquireReply>): Promise<AcquireReply> {
  return inSpan(
    "rate_limit.wait",
    { attributes: waitSpanStart(request) },
    async (span) => {
      const arrivedAt = performance.now();
      const reply = await wait();
      span.setAttributes(waitSpanEnd(reply, performance.now() - arrivedAt));
      return reply;
    },
    remoteContext(request.traceparent),
  );
}
