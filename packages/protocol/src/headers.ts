/** NATS header names the system reads or writes. */
export const Header = {
  contentType: "Content-Type",
  /** `gzip` on an internal message whose body was compressed (large results). */
  contentEncoding: "Content-Encoding",
  /** W3C trace context: the span a message or call was sent from (docs/protocol.md#trace-context). */
  traceparent: "traceparent",
  /** W3C vendor trace state, carried on beside `traceparent` when the caller sent one. */
  tracestate: "tracestate",
  requestId: "Toolformer-Request-Id",
  callId: "Toolformer-Call-Id",
  /** On a stored public event: its `type`, so a reader can pass over types it has no use for unread. */
  eventType: "Toolformer-Event-Type",
  /** Absolute deadline of the request, epoch milliseconds. */
  deadline: "Toolformer-Deadline",
  /** Why a cancel broadcast was sent: `client` (default), `timeout`, `race`, `speculation`. */
  cancelReason: "Toolformer-Cancel-Reason",
  /**
   * On a copy of a JetStream message that a stopping actor handed back: how often the message was
   * delivered before the copy was stored, so the count goes on across copies.
   */
  deliveredBefore: "Toolformer-Delivered-Before",
  /** On a handed-back copy: how many times the message has been handed back. */
  handedBack: "Toolformer-Handed-Back",
  /** Set by the service API on an error reply. */
  serviceError: "Nats-Service-Error",
  serviceErrorCode: "Nats-Service-Error-Code",
  /** With service error code 429 from a remote tool: seconds until it takes calls again. */
  retryAfter: "Retry-After",
} as const;

export const CancelReason = {
  client: "client",
  timeout: "timeout",
  /** Another call of its race group (`options.race`) succeeded first; only ever about one call. */
  race: "race",
  /** A speculative call no call of the model claimed (docs/adr/0010); only ever about one call. */
  speculation: "speculation",
} as const;
export type CancelReason = (typeof CancelReason)[keyof typeof CancelReason];

/** How a call or request stopped by a cancel broadcast explains itself. */
export function describeCancel(reason: CancelReason | undefined): string {
  if (reason === CancelReason.timeout) return "the request's deadline passed";
  if (reason === CancelReason.race) return "another call of its race group succeeded first";
  if (reason === CancelReason.speculation) return "the model did not ask for this speculative call";
  return "the request was cancelled";
}
