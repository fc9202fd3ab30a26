import { DeliverPolicy, type Consumer, type ConsumerMessages } from "@nats-io/jetstream";
import { setTimeout as sleep } from "node:timers/promises";
import { INTERNAL_SUBJECTS, RoundAddSchema, STREAMS, type RoundAdd, type RoundSubmit } from "@toolformer/protocol";
import {
  backoffDelayMs,
  decodeValidated,
  deleteOrdered,
  ORDERED_INACTIVE_THRESHOLD_MS,
  retryUntil,
  untilStored,
  type ActorContext,
  type Logger,
} from "@toolformer/runtime";

/**
 * The ordered consumer that reads a round's additions lives on one node (the rounds stream's leader when
 * it was made). When that node dies the client notices only after two missed heartbeats, and then makes
 * a new consumer from the last addition it read: with the client's default heartbeat (15 s) a round would
 * stand still for half a minute, so these are short.
 */
export const ADDITIONS_HEARTBEAT_MS = 1_000;
export const ADDITIONS_PULL_EXPIRES_MS = 5_000;

/**
 * Calls added to an open round while the model streams, read from the rounds stream in order (so a
 * scheduler that takes the round over after a failover replays them too) and handed to `onAdded` one
 * message at a time. The reading never ends on its own before `close`: when the client gives up on its
 * consumer (a node died, a stream elected a leader), a new one goes on after the last message read, and a
 * failing `onAdded` is logged, not fatal.
 */
export function followAdditions(
  ctx: ActorContext,
  submit: RoundSubmit,
  log: Logger,
  onAdded: (added: RoundAdd) => Promise<void>,
): { close(): Promise<void> } {
  const closing = new AbortController();
  let lastSequence = 0;
  let messages: ConsumerMessages | undefined;
  let consumer: Consumer | undefined;

  const open = async (): Promise<ConsumerMessages> => {
    await deleteOrdered(consumer);
    const filter_subjects = INTERNAL_SUBJECTS.roundAdd(submit.requestId, submit.round);
    consumer = await untilStored(
      () =>
        ctx.js.consumers.get(
          STREAMS.rounds.name,
          lastSequence === 0
            ? { filter_subjects, deliver_policy: DeliverPolicy.All, inactive_threshold: ORDERED_INACTIVE_THRESHOLD_MS }
            : { filter_subjects, opt_start_seq: lastSequence + 1, inactive_threshold: ORDERED_INACTIVE_THRESHOLD_MS },
        ),
      { giveUpAt: retryUntil(submit.deadline), signal: closing.signal },
    );
    return consumer.consume({ idle_heartbeat: ADDITIONS_HEARTBEAT_MS, expires: ADDITIONS_PULL_EXPIRES_MS });
  };

  const reading = (async () => {
    for (let failures = 0; !closing.signal.aborted;) {
      try {
        messages = await open();
        if (closing.signal.aborted) break;
        for await (const msg of messages) {
          lastSequence = msg.seq;
          failures = 0;
          const decoded = decodeValidated(msg.data, msg.headers, RoundAddSchema);
          if (!decoded.ok) continue;
          await onAdded(decoded.value).catch((error: unknown) =>
            log.warn({ err: error }, "could not announce calls added to the round"),
          );
        }
        if (closing.signal.aborted) break;
        log.warn({ lastSequence }, "reading the round's additions stopped; reading on after the last one");
      } catch (error) {
        if (closing.signal.aborted) break;
        log.warn({ err: error, lastSequence }, "could not read the round's additions; trying again");
      }
      await sleep(backoffDelayMs(++failures), undefined, { signal: closing.signal }).catch(() => undefined);
    }
    await messages?.close();
    await deleteOrdered(consumer);
  })();

  return {
    async close() {
      closing.abort();
      await messages?.close();
      await reading;
    },
  };
}
