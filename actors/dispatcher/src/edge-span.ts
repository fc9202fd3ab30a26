import type { MsgHdrs } from "@nats-io/transport-node";
import { Header } from "@toolformer/protocol";
import { inSpan, remoteContext, SpanKind } from "@toolformer/runtime";

/**
 * Accepts a client's request in its `orchestrate.request` span (kind SERVER), child of the
 * `traceparent`/`tracestate` the client sent, if any: the queued run names it as its parent, so a
 * request's trace starts at the client and every actor's spans hang under it.
 */
export function acceptInSpan(
  msg: { subject: string; headers?: MsgHdrs | undefined },
  accept: () => Promise<void>,
): Promise<void> {
  const parent = remoteContext(msg.headers?.get(Header.traceparent), msg.headers?.get(Header.tracestate));
  const attributes = { "messaging.system": "nats", "messaging.destination.name": msg.subject };
  return inSpan("orchestrate.request", { kind: SpanKind.SERVER, attributes }, accept, parent);
}
