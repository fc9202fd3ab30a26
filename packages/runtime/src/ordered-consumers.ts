import type { Consumer } from "@nats-io/jetstream";

/**
 * Deletes an ordered consumer on the server once its reader is done with it. nats.js (3.4) leaves it
 * there until it has been idle for 5 minutes: one per open round, takeover and event reader, which at a
 * few requests a second is thousands of ephemeral consumers the cluster keeps for nothing. Failure is
 * harmless (the server still drops it when it has been idle that long).
 */
export async function deleteOrdered(consumer: Consumer | undefined): Promise<void> {
  await consumer?.delete().catch(() => false);
}
