import { errors, RequestError } from "@nats-io/transport-node";

/**
 * How long one try of a JetStream write waits for its acknowledgement before it is given up and sent
 * again (under the same `Nats-Msg-Id`, so a try that was stored after all is acknowledged as a duplicate).
 */
export interface TryTimeoutPolicy {
  /** The first try's timeout, and any try's after the servers answered the one before (even with a refusal). */
  firstTimeoutMs: number;
  /** The ceiling the timeout doubles up to while tries go unanswered in a row. */
  maxTimeoutMs: number;
}

/**
 * Measured on a 3-node cluster with nodes SIGKILLed (nats-server 2.9.10, 2.10.27, 2.15.1; issue 15): a
 * try is lost, and waits out its whole timeout, when it was in flight on a connection to the node that
 * died or to the stream leader that died, when it was published while the client was reconnecting
 * (nats.js drops what it buffered when it dials), and on 2.9 when it reached the new leader's node in
 * the ~20 ms it took over. A stream without a leader answers at once (no responders). Answered tries
 * took at most 0.3 s (2.9) to 0.8 s (2.10) with 6 publishers, and up to 3 s with 36 publishers retrying
 * through an election on 2 cores.
 *
 * So a first try waits 2 s, not the client's 5 s: a lost try costs 2 s. A try that times out only because
 * the machine is slow is sent again once (the copy is answered as a duplicate), and the next waits 4 s,
 * then the client's own 5 s, so a slow cluster is not flooded with copies.
 */
export const DEFAULT_TRY_TIMEOUT: TryTimeoutPolicy = { firstTimeoutMs: 2_000, maxTimeoutMs: 5_000 };

/** The timeout of the next try after `unansweredInARow` tries in a row went unanswered (0, 1, ...). */
export function tryTimeoutMs(unansweredInARow: number, policy: TryTimeoutPolicy = DEFAULT_TRY_TIMEOUT): number {
  return Math.min(policy.maxTimeoutMs, policy.firstTimeoutMs * 2 ** Math.max(0, unansweredInARow));
}

/**
 * Whether a try got no answer in time (lost with a dying node, or slow), as opposed to an answer, even a
 * refusal or "no responders": only silence lengthens the next try's timeout.
 */
export function isUnanswered(error: unknown): boolean {
  return (
    error instanceof errors.TimeoutError ||
    (error instanceof RequestError && error.cause instanceof errors.TimeoutError)
  );
}
