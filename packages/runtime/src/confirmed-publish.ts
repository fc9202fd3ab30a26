import type { NatsConnection } from "@nats-io/transport-node";
import { untilStored, type UntilStoredOptions } from "./backoff.ts";

/**
 * A core NATS publish (`publish` sends it on `nc`: a publish, a message's respond) that is not lost
 * with the server it was written to. The client drops what it had not yet written when its connection
 * breaks, and what it wrote into a socket whose server has just died is gone too (a node's death, a
 * client moving to another node). So the publish is followed by a flush: the server answers it only
 * after it has read the message and passed it on. A flush refused because the connection broke means it
 * may not have, and the message is published again, after the reconnect, until `retry.giveUpAt`.
 *
 * The price is a message sent twice when the connection broke after the server had passed it on and
 * before its answer came: for a reply, a second copy to an inbox (a request's caller keeps the first)
 * beats no reply at all (ADR 0037).
 */
export async function publishConfirmed(
  nc: NatsConnection,
  publish: () => void,
  retry: UntilStoredOptions,
): Promise<void> {
  await untilStored(async () => {
    publish();
    await nc.flush().catch((error: unknown) => {
      if (nc.isClosed()) throw error;
      // The client's own error carries no class to tell a broken connection by: name it so (transient).
      throw new Error("publish not confirmed: the connection was disconnected", { cause: error });
    });
  }, retry);
}
