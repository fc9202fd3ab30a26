import { INTERNAL_SUBJECTS, RoundAddSchema, STREAMS, type RoundAdd, type RoundSubmit } from "@toolformer/protocol";
import {
  backoffDelayMs,
  decodeValidated,
  nextStored,
  pause,
  retryUntil,
  type ActorContext,
  type Logger,
} from "@toolformer/runtime";
import { Doorbell } from "./doorbell.ts";

/**
 * How long the reader of an open round waits for a live add before it reads the stream anyway. A live
 * copy is lost only while this scheduler reconnects (a node died); the calls in it start at most this
 * late. The ordered consumer this replaces noticed a dead node after two missed 1 s heartbeats.
 */
export const ADDITIONS_POLL_MS = 1_000;
/**
 * A live add can arrive before its stored copy can be read (the stream stores it a moment later, once a
 * clustered stream's peers agree): the stream is read again after 1, 2, 4 ... ms, this many times per ring.
 */
export const STORED_LAG_TRIES = 8;

/**
 * The quick re-reads one ring gets when a read after it finds nothing new. Each ring has its own: a ring
 * whose add was read already (a retried publish is heard twice) uses up only its own, not those of the
 * next add, whose stored copy may lag behind its live one.
 */
export class StoredLag {
  #spent = 0;

  /** A new ring: its add may not be stored yet. */
  rang(): void {
    this.#spent = 0;
  }

  /** How long to wait before reading again for the latest ring, or undefined once its re-reads are spent. */
  nextDelayMs(): number | undefined {
    return this.#spent < STORED_LAG_TRIES ? 2 ** this.#spent++ : undefined;
  }
}

/**
 * Calls added to an open round while the model streams, read from the rounds stream in order (so a
 * scheduler that takes the round over after a failover replays them too) and handed to `onAdded` one
 * message at a time, until the sealing add or `close`. Each add's live copy (a core subscription to its
 * subject) only says when to read: what is handed on is always the stored message, in the stream's
 * order, each once. A round costs a subscription and a few message gets, where a consumer per round cost
 * the server a consumer's creation, heartbeats and deletion (ADR 0039). A failing `onAdded` is logged,
 * not fatal.
 */
export function followAdditions(
  ctx: ActorContext,
  submit: RoundSubmit,
  log: Logger,
  onAdded: (added: RoundAdd) => Promise<void>,
  pollMs = ADDITIONS_POLL_MS,
): { close(): Promise<void> } {
  const closing = new AbortController();
  const subject = INTERNAL_SUBJECTS.roundAdd(submit.requestId, submit.round);
  const doorbell = new Doorbell();
  // Subscribed before the first read: an add stored after that read rings, one stored before it is read.
  const live = ctx.nc.subscribe(subject, { callback: () => doorbell.ring() });
  const retry = { giveUpAt: retryUntil(submit.deadline), signal: closing.signal };
  let lastSequence = 0;

  /** Hands on every add stored after the last one read; how many it found, and whether one sealed the round. */
  const readStored = async (): Promise<{ found: number; sealed: boolean }> => {
    for (let found = 0; ;) {
      const stored = await nextStored(ctx.jsm, STREAMS.rounds.name, subject, lastSequence + 1, retry);
      if (!stored) return { found, sealed: false };
      lastSequence = stored.seq;
      found++;
      const decoded = decodeValidated(stored.data, stored.header, RoundAddSchema);
      if (!decoded.ok) continue;
      await onAdded(decoded.value).catch((error: unknown) =>
        log.warn({ err: error }, "could not announce calls added to the round"),
      );
      if (decoded.value.sealTotal !== undefined) return { found, sealed: true };
    }
  };

  const reading = (async () => {
    // The first read finds the adds stored before the subscription; later ones follow a ring or the poll.
    let rung = false;
    const lag = new StoredLag();
    for (let failures = 0; !closing.signal.aborted;) {
      try {
        const { found, sealed } = await readStored();
        failures = 0;
        if (sealed) break;
        const delayMs = rung && found === 0 ? lag.nextDelayMs() : undefined;
        if (delayMs !== undefined) {
          // Read again soon, or at once when another add rings meanwhile (which gets re-reads of its own).
          if (await doorbell.wait(delayMs, closing.signal)) lag.rang();
          continue;
        }
      } catch (error) {
        if (closing.signal.aborted) break;
        log.warn({ err: error, lastSequence }, "could not read the round's additions; trying again");
        await pause(backoffDelayMs(++failures), closing.signal);
        continue;
      }
      rung = await doorbell.wait(pollMs, closing.signal);
      if (rung) lag.rang();
    }
    live.unsubscribe();
  })();
  return {
    async close() {
      closing.abort();
      await reading;
    },
  };
}
