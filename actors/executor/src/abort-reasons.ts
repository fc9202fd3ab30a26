import { CancelReason, describeCancel, ErrorCode, TerminalError } from "@toolformer/protocol";
import type { Outcome } from "./outcome.ts";

/** Why a call's AbortSignal fired: its own timeout or the request's deadline while waiting. */
export class TimeoutReason extends Error {
  override readonly name = "TimeoutError";
  constructor() {
    super("the call timed out");
  }
}

/** Why a call's AbortSignal fired: a cancel broadcast (of its request, or of this call). */
export class CancelledReason extends Error {
  override readonly name = "AbortError";
  readonly reason: CancelReason;
  constructor(reason: CancelReason) {
    super(describeCancel(reason));
    this.reason = reason;
  }
}

/**
 * A call refused before its tool ran because its executor is stopping (it still waited for a worker
 * thread): it is handed back to another executor, never failed. Terminal, so it is not tried again here.
 */
export class NotStartedError extends TerminalError {
  constructor() {
    super(ErrorCode.INTERNAL, "this executor is stopping; the call was handed back before it started");
  }
}

/** How an aborted call ends. */
export function abortOutcome(reason: unknown): Outcome {
  if (reason instanceof TimeoutReason) return { kind: "timeout", message: reason.message };
  if (reason instanceof CancelledReason && reason.reason === CancelReason.timeout) {
    return { kind: "timeout", message: reason.message };
  }
  return { kind: "cancelled", message: reason instanceof Error ? reason.message : "cancelled" };
}

/** The reason a service behind a remote tool is told when its call is abandoned. */
export function cancelReasonOf(reason: unknown): CancelReason {
  if (reason instanceof CancelledReason) return reason.reason;
  return reason instanceof TimeoutReason ? CancelReason.timeout : CancelReason.client;
}
