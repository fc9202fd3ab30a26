import { errors } from "@nats-io/transport-node";

/**
 * What a consumer does after a pull failed: pull again (after making the durable again if the server
 * lost it), unless the connection is closed for good. nats.js v3 never re-creates a durable: a pull
 * consumer the server deleted or lost (an operator, a node that held it died) answers every pull with
 * "consumer deleted" or nothing at all (missed heartbeats), and `consume()` keeps asking forever while
 * no message arrives. So the runtime pulls with `fetch()`, whose failures surface, and starts afresh.
 */
export function afterPullFailure(error: unknown): { stop: boolean; reason: string } {
  if (error instanceof errors.ClosedConnectionError) return { stop: true, reason: "the connection is closed" };
  const text = String(error);
  if (/consumer deleted|consumer not found|no consumer/i.test(text))
    return { stop: false, reason: "the server lost the consumer" };
  if (/stream not found|stream deleted/i.test(text)) return { stop: false, reason: "the server lost the stream" };
  if (/heartbeats? missed/i.test(text)) return { stop: false, reason: "the server stopped answering the pull" };
  return { stop: false, reason: text.slice(0, 200) };
}
