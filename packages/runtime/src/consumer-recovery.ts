import type { ConsumerNotification } from "@nats-io/jetstream";

/**
 * Missed idle heartbeats after which a pull is started afresh. nats.js re-pulls by itself after two
 * (checking that the consumer still exists), but while that check fails it waits up to one pull
 * expiry between tries; past this many, the runtime ends the pull and opens a new one itself.
 */
export const RESTART_AFTER_MISSED_HEARTBEATS = 4;

/**
 * Why a `consume()` must be replaced by a new one on a re-created durable, or undefined when the
 * client recovers by itself. nats.js v3 never re-creates a durable pull consumer: when the server
 * deletes or loses it (`consumer_deleted` on a waiting pull, `consumer_not_found` when it checks after
 * missed heartbeats or a reconnect), it asks for it again forever and no message arrives. A missing
 * stream is the same wait (the durable can be made again once the stream is back). Missed heartbeats
 * alone usually pass (a reconnect, a leader election), unless they go on.
 */
export function restartReason(status: ConsumerNotification): string | undefined {
  switch (status.type) {
    case "consumer_deleted":
      return `the server deleted the consumer (${status.description})`;
    case "consumer_not_found":
      return "the server no longer has the consumer";
    case "stream_not_found":
      return "the server no longer has the stream";
    case "heartbeats_missed":
      return status.count >= RESTART_AFTER_MISSED_HEARTBEATS
        ? `no heartbeat from the consumer for ${status.count} intervals`
        : undefined;
    default:
      return undefined;
  }
}
