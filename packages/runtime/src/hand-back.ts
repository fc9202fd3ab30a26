import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { MESSAGE_IDS, Header } from "@toolformer/protocol";
import { untilStored } from "./backoff.ts";

/** How long a stopping copy tries to store a hand-back copy before it falls back to a `nak`. */
const REQUEUE_GIVE_UP_MS = 2_000;
const ACK_CONFIRM_TIMEOUT_MS = 2_000;

const countIn = (msg: JsMsg, header: string): number => {
  const value = Number(msg.headers?.get(header));
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
};

/**
 * Deliveries of the message so far, this one included, across the copies hand-backs made of it:
 * 1 on the first delivery, more when the server redelivered it or a copy handed it back.
 */
export function deliveriesOf(msg: JsMsg): number {
  return countIn(msg, Header.deliveredBefore) + msg.info.deliveryCount;
}

/**
 * Hands a message back without using up its deliveries: stores a copy at the end of its stream
 * (same subject, body and headers, with the delivery count carried in `Toolformer-Delivered-Before`),
 * then acks the original. A `nak` would count as one more delivery, and an item handed back on each of
 * five rolling restarts would reach `max_deliver` and be given up; the copy starts with all of its
 * deliveries. The copy's message id is the original's stream position, so storing it twice (a retried
 * publish, a redelivered original handed back again) keeps one copy. The price: the copy queues
 * behind messages stored after the original. Falls back to a `nak` when the copy cannot be stored.
 */
export async function requeue(js: JetStreamClient, msg: JsMsg): Promise<"copied" | "redelivered"> {
  const copy = headers();
  for (const key of msg.headers?.keys() ?? []) {
    // The server's own headers (message id, expectations) belong to the original.
    if (key.toLowerCase().startsWith("nats-")) continue;
    for (const value of msg.headers?.values(key) ?? []) copy.append(key, value);
  }
  copy.set(Header.deliveredBefore, String(deliveriesOf(msg)));
  copy.set(Header.handedBack, String(countIn(msg, Header.handedBack) + 1));
  const { stream, streamSequence } = msg.info;
  try {
    await untilStored(
      () =>
        js.publish(msg.subject, msg.data, {
          headers: copy,
          msgID: MESSAGE_IDS.handBack(stream, streamSequence),
          expect: { streamName: stream },
        }),
      { giveUpAt: Date.now() + REQUEUE_GIVE_UP_MS },
    );
  } catch {
    msg.nak();
    return "redelivered";
  }
  // Unconfirmed, the original comes back after the ack wait: a duplicate the handlers' redelivery path absorbs.
  await msg.ackAck({ timeout: ACK_CONFIRM_TIMEOUT_MS }).catch(() => false);
  return "copied";
}
