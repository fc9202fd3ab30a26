import { SpanKind, type Span } from "@opentelemetry/api";
import type { MsgHdrs } from "@nats-io/transport-node";
import { Header } from "@toolformer/protocol";
import { inSpan, remoteContext } from "./trace-context.ts";

/**
 * Runs the handling of one delivered message in a `process` span (OTel messaging conventions: kind
 * CONSUMER, child of the context the sender put in the message's `traceparent`/`tracestate`), so what
 * the handler does, logs and sends on hangs under the sender's span.
 */
export function processInSpan<T>(
  consumerGroup: string,
  msg: { subject: string; headers?: MsgHdrs | undefined },
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = remoteContext(msg.headers?.get(Header.traceparent), msg.headers?.get(Header.tracestate));
  return inSpan(
    `process ${consumerGroup}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": msg.subject,
        "messaging.consumer.group.name": consumerGroup,
      },
    },
    work,
    parent,
  );
}
