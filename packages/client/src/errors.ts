/**
 * What the client throws itself. A reply whose status is `failed`, `rejected`, `cancelled` or
 * `timeout` is not thrown: it is the orchestrator's answer, returned like a completed one.
 */
export class ToolformerError extends Error {
  override name = "ToolformerError";
}

/** No dispatcher listens on `orchestrate.request` (or `orchestrate.approve.<id>`; NATS "no responders"): nothing was accepted; send again later. */
export class OrchestratorUnavailableError extends ToolformerError {
  override name = "OrchestratorUnavailableError";
}

/**
 * No reply within the wait. The request may still be running: its events tell, and sending it again
 * with the same id returns its reply once there is one.
 */
export class ReplyTimeoutError extends ToolformerError {
  override name = "ReplyTimeoutError";
  readonly requestId: string | undefined;
  readonly waitedMs: number;
  constructor(requestId: string | undefined, waitedMs: number, options?: ErrorOptions) {
    super(`no reply${requestId ? ` to ${requestId}` : ""} within ${waitedMs} ms`, options);
    this.requestId = requestId;
    this.waitedMs = waitedMs;
  }
}

/** A reply that does not follow the protocol (a broken or much newer orchestrator). */
export class InvalidReplyError extends ToolformerError {
  override name = "InvalidReplyError";
}

/** The caller's AbortSignal fired: the request was cancelled (`orchestrate.cancel.<id>`). */
export class RequestAbortedError extends ToolformerError {
  override name = "RequestAbortedError";
  readonly requestId: string;
  constructor(requestId: string, options?: ErrorOptions) {
    super(`request ${requestId} aborted: a cancel was sent`, options);
    this.requestId = requestId;
  }
}
