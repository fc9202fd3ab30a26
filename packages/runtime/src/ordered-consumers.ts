import type { Consumer } from "@nats-io/jetstream";

/**
 * How long an ordered consumer may sit idle on the server before it goes, when its reader died without
 * deleting it (a process killed). Readers pull every few seconds, so a live one is never idle this long.
 */
export const ORDERED_INACTIVE_THRESHOLD_MS = 15_000;

/**
 * Deletes an ordered consumer on the server once its reader is done with it. nats.js (3.4) leaves it
 * there until it has been idle for 5 minutes: one per open round, takeover and event reader, which at a
 * few requests a second is thousands of ephemeral consumers the cluster keeps for nothing. Failure is
 * harmless (the server still drops it when it has been idle that long).
 */
export async function deleteOrdered(consumer: Consumer | undefined): Promise<void> {
  await consumer?.delete().catch(() => false);
}
