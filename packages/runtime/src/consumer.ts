import { setTimeout as sleep } from "node:timers/promises";
import {
  AckPolicy,
  DeliverPolicy,
  RetentionPolicy,
  type Consumer,
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import type { z } from "zod";
import { backoffDelayMs, pause, untilStored } from "./backoff.ts";
import { afterPullFailure } from "./consumer-recovery.ts";
import { processInSpan } from "./consumer-span.ts";
import { applyDirective, handBack, retry, terminate, type Directive } from "./directive.ts";
import { deliveriesOf, requeue } from "./hand-back.ts";
import { whileStarting } from "./jetstream-io.ts";
import type { Logger } from "./logger.ts";
import type { ActorMetrics } from "./metrics.ts";
import { Semaphore } from "./semaphore.ts";
import { decodeValidated } from "./wire.ts";

export const DEFAULT_ACK_WAIT_MS = 30_000;
export const DEFAULT_MAX_DELIVER = 5;
/** How long `stop()` waits for handlers that are running (after telling them) before it returns. */
export const DEFAULT_STOP_GRACE_MS = 15_000;
const MAX_RETRY_DELAY_MS = 30_000;
/**
 * How long one pull waits on the server when no message comes. nats.js derives its idle heartbeat
 * (half of this) from it: a pull that hears nothing for two heartbeats (a lost durable, a dead node)
 * fails, so 5 s finds it within seconds, at the price of one idle pull per consumer and copy every 5 s.
 */
const PULL_EXPIRES_MS = 5_000;
/**
 * A pull still open this long after its expiry is given up and pulled again. nats-server before 2.9.16
 * (Debian's 2.9.10 among them) can drop an expired pull without its 408 when a message arrives at that
 * moment; the pull then heard nothing more and failed only after two missed heartbeats, with the message
 * waiting ~5 s. On a server that sends the 408 the guard never fires.
 */
const PULL_EXPIRY_GRACE_MS = 500;
const RESUBSCRIBE_BACKOFF = { firstDelayMs: 250, maxDelayMs: 5_000 };
/** The most messages one pull asks for. */
const MAX_PULL_BATCH = 256;

export interface DurableSpec {
  stream: string;
  durable: string;
  filterSubject: string;
  ackWaitMs?: number;
  maxDeliver?: number;
  /**
   * `explicit` (default): each message is acked, nak'd or terminated after its handler, and comes
   * back if this copy dies first. `none`: the server counts a message done once delivered, for a
   * consumer that only watches and may lose what a dying copy held (the speculation engine's
   * statistics): no ack crosses the wire, no message is kept alive, none is handed back or retried.
   * A durable's ack policy is fixed when it is made: changing it takes a new durable name.
   */
  acks?: "explicit" | "none";
}

export interface Delivery {
  msg: JsMsg;
  /**
   * 1 on the first delivery; larger when the message was delivered before (a copy died, a handler asked
   * to retry, or a stopping copy handed it back).
   */
  deliveryCount: number;
  /**
   * Whether earlier work on the message may exist: it was delivered before, or may have been although
   * the server counts this delivery as the first (`mayHaveBeenDelivered`). A handler reads back what
   * such work left before it does anything.
   */
  redelivered: boolean;
  /** The server stops delivering a message after this many deliveries; a hand-back starts the count afresh. */
  maxDeliver: number;
  /**
   * Aborted when this copy stops (SIGTERM, scale-in). The contract for a handler that hears it:
   * - work that must not run twice and has started (a tool call under way) is finished as usual;
   * - anything else returns `handBack()` (or `retry(0)`, the same while stopping) at once, at a point
   *   where whatever it published stays valid for the copy that takes over (which sees
   *   `redelivered` and reads earlier work back);
   * - waits (permits, slots, results of other actors) are abandoned: the abort is the signal to do so.
   * Messages pulled but not started yet are handed back by `runConsumer` itself. `stop()` waits for
   * running handlers at most `stopGraceMs`; a message whose handler outlasts it comes back to another
   * copy after the ack wait, as if this copy had died.
   */
  stopping: AbortSignal;
}

export interface ConsumerSpec<S extends z.ZodType> extends DurableSpec {
  schema: S;
  /** Messages handled at once by this copy. */
  maxInFlight: number;
  /** How long `stop()` waits for running handlers (default DEFAULT_STOP_GRACE_MS). */
  stopGraceMs?: number;
  /**
   * How a message goes back when this copy stops before finishing it. `requeue` (default) stores a
   * copy and acks the original, so hand-backs never use up `maxDeliver` (see `requeue`); `redeliver`
   * naks it: it keeps its place but each hand-back counts as a delivery. Use `redeliver` on a stream
   * whose messages others read too (the public events), where a copy would be seen twice.
   */
  handBack?: "requeue" | "redeliver";
  /**
   * A delivery of a message this copy still works on waits for the earlier one (`handleInTurn`), for
   * handlers whose work must not run twice at once (a tool with side effects). Off for handlers built to
   * run beside another run of the same message (the dispatcher's runner, a scheduler's round): there a
   * second run may overtake a first that is stuck.
   */
  oneDeliveryAtATime?: boolean;
  /**
   * Ack with the server's confirmation, sent again over this connection until it comes (within the ack
   * wait). A consumer electing a new leader (a node died) drops plain acks, and the message comes back
   * to a copy after the ack wait: for a handler whose repetition shows outside (the dispatcher sends a
   * reply), confirmed acks keep that from happening.
   */
  confirmAcksOver?: NatsConnection;
  /**
   * Whether each delivery is handled in its own `process` span (default true). Off for a consumer that
   * only watches what others did (the public events): a span per event would multiply a request's spans
   * and say nothing its senders' spans do not.
   */
  traced?: boolean;
  /**
   * Deliveries the handler has no use for, told from their headers alone: they are neither decoded nor
   * handled (acked, when acks are explicit). For a watcher of a busy stream that counts a few kinds
   * of message: decoding and validating the rest was most of its work (the speculation engine).
   */
  ignore?: (headers: MsgHdrs | undefined) => boolean;
  handle(message: z.output<S>, delivery: Delivery): Promise<Directive>;
}

export interface RunningConsumer {
  /**
   * Stops pulling, hands back at once the messages pulled but not started, tells running handlers
   * (`Delivery.stopping`) and waits for them at most the stop grace, then returns.
   */
  stop(): Promise<void>;
}

/** How long one ack waits for the server's confirmation before it is sent again. */
const ACK_CONFIRM_TIMEOUT_MS = 2_000;
const ACK_BODY = new TextEncoder().encode("+ACK");

/** Acks, and sends the ack again until the server confirms it or `giveUpAt` passes. */
async function confirmedAck(nc: NatsConnection, msg: JsMsg, giveUpAt: number): Promise<void> {
  // The ack subject is the delivery's reply subject; the client's interface does not name it.
  const ackSubject = (msg as unknown as { reply?: unknown }).reply;
  if (typeof ackSubject !== "string" || ackSubject === "") return msg.ack();
  await untilStored(() => nc.request(ackSubject, ACK_BODY, { timeout: ACK_CONFIRM_TIMEOUT_MS }), { giveUpAt });
}

/**
 * Creates the durable if missing. Copies of an actor share one durable, so JetStream hands each
 * message to exactly one of them and redelivers it if that copy dies before acking. `resumeAfterSeq`
 * is for a durable the server lost while the actor ran: on a stream that keeps acked messages, the new
 * durable starts after the last message known to be delivered instead of replaying the whole stream.
 */
export async function ensureDurable(jsm: JetStreamManager, spec: DurableSpec, resumeAfterSeq = 0): Promise<void> {
  try {
    await jsm.consumers.info(spec.stream, spec.durable);
    return;
  } catch (error) {
    if (!/not found/i.test(String(error))) throw error;
  }
  const config: Partial<ConsumerConfig> =
    spec.acks === "none"
      ? { durable_name: spec.durable, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All }
      : {
          durable_name: spec.durable,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: (spec.ackWaitMs ?? DEFAULT_ACK_WAIT_MS) * 1_000_000,
          max_deliver: spec.maxDeliver ?? DEFAULT_MAX_DELIVER,
          max_ack_pending: 20_000,
        };
  config.filter_subject = spec.filterSubject;
  if (resumeAfterSeq > 0) {
    const { config: stream } = await jsm.streams.info(spec.stream);
    // A work queue holds only messages not yet acked: all of them are still to do.
    if (stream.retention !== RetentionPolicy.Workqueue)
      Object.assign(config, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: resumeAfterSeq + 1 });
  }
  try {
    await jsm.consumers.add(spec.stream, config);
  } catch (error) {
    if (!/already in use|already exists/i.test(String(error))) throw error;
  }
}

/**
 * Pulls from a durable and runs the handler for each message with bounded concurrency. A message that
 * does not decode or validate is terminated (it would fail the same way forever); a handler that
 * throws is retried with backoff; long handlers keep their message alive with in-progress acks. When
 * the server loses the durable (deleted, or gone with the node that held it) or the pull stops
 * hearing from it, the durable is made again and pulling resumes (see `afterPullFailure`).
 */
export async function runConsumer<S extends z.ZodType>(
  js: JetStreamClient,
  jsm: JetStreamManager,
  spec: ConsumerSpec<S>,
  log: Logger,
  metrics: ActorMetrics,
): Promise<RunningConsumer> {
  await whileStarting(() => ensureDurable(jsm, spec));
  const stopReportingLag = metrics.consumers.watch(jsm, spec.stream, spec.durable);
  const slots = new Semaphore(spec.maxInFlight);
  const stopping = new AbortController();
  const running = new Set<Promise<void>>();
  const ackWaitMs = spec.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
  const maxDeliver = spec.maxDeliver ?? DEFAULT_MAX_DELIVER;
  const stopGraceMs = spec.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
  /** `acks: "none"`: nothing is settled, kept alive or handed back. */
  const unacked = spec.acks === "none";
  /** The last stream position known delivered on this durable: where a re-created durable starts. */
  let deliveredUpTo = 0;
  /** When this copy last pulled again after losing the pull (0: never). */
  let pulledAgainAt = 0;

  /** The durable to pull from, and where it stands. */
  const attach = async (): Promise<Consumer> => {
    const consumer = await js.consumers.get(spec.stream, spec.durable);
    deliveredUpTo = Math.max(deliveredUpTo, (await consumer.info(true)).delivered.stream_seq);
    return consumer;
  };

  /** Hands a message back: `copied` when a copy now stands in its place, `redelivered` when it was nak'd. */
  const giveBack = async (msg: JsMsg): Promise<"copied" | "redelivered"> => {
    if (spec.handBack === "redeliver") {
      msg.nak();
      return "redelivered";
    }
    const how = await requeue(js, msg);
    if (how === "redelivered") log.warn({ subject: msg.subject }, "could not store a hand-back copy; nak'd it instead");
    return how;
  };

  /**
   * Handles one delivery; `deliveredHere`: this copy worked on the message before (a delivery it still
   * had in hand). Says whether the message is settled for good (acked, or a copy stands in its place).
   */
  const handleOne = async (msg: JsMsg, deliveredHere: boolean): Promise<boolean> => {
    const endTimer = metrics.handlerSeconds.startTimer({ subject: spec.durable });
    const decoded = decodeValidated(msg.data, msg.headers, spec.schema);
    if (!decoded.ok) {
      log.warn({ subject: msg.subject, error: decoded.error }, "terminating a malformed message");
      if (!unacked) msg.term(decoded.error.message.slice(0, 256));
      metrics.messagesHandled.inc({ subject: spec.durable, outcome: "rejected" });
      return true;
    }
    let directive: Directive;
    try {
      const handle = () =>
        spec.handle(decoded.value, {
          msg,
          deliveryCount: deliveriesOf(msg),
          redelivered: deliveredHere || deliveriesOf(msg) > 1 || mayHaveBeenDelivered(msg, pulledAgainAt),
          maxDeliver,
          stopping: stopping.signal,
        });
      directive = spec.traced === false ? await handle() : await processInSpan(spec.durable, msg, handle);
    } catch (error) {
      const delayMs = Math.min(MAX_RETRY_DELAY_MS, 250 * 2 ** msg.info.deliveryCount);
      if (stopping.signal.aborted) {
        // Most likely a wait the stop cut short: another copy tries it, with its deliveries intact.
        log.info({ err: error, subject: msg.subject }, "handler failed while stopping; handing the message back");
        directive = handBack();
      } else {
        log.error(
          { err: error, subject: msg.subject },
          unacked ? "handler failed; the message is dropped" : "handler failed; the message will be retried",
        );
        directive = msg.info.deliveryCount >= maxDeliver ? terminate(String(error)) : retry(delayMs);
      }
    } finally {
      endTimer();
    }
    if (unacked) {
      // Nothing to settle: the server counted the message done when it delivered it.
      metrics.messagesHandled.inc({ subject: spec.durable, outcome: directive.kind });
      return true;
    }
    // `retry(0)` from a handler that heard `stopping` is a hand-back too.
    if (directive.kind === "retry" && directive.delayMs === 0 && stopping.signal.aborted) directive = handBack();
    let settled = false;
    try {
      if (directive.kind === "handBack") settled = (await giveBack(msg)) === "copied";
      else if (directive.kind === "ack" && spec.confirmAcksOver)
        await confirmedAck(spec.confirmAcksOver, msg, Date.now() + ackWaitMs);
      else applyDirective(msg, directive);
      settled ||= directive.kind === "ack";
    } catch (error) {
      log.warn({ err: error, subject: msg.subject }, "could not settle a message; it comes back after the ack wait");
    }
    metrics.messagesHandled.inc({ subject: spec.durable, outcome: directive.kind });
    return settled;
  };

  /** The delivery this copy works on, by stream position, and whether it settled its message. */
  const inHand = new Map<number, Promise<boolean>>();

  /**
   * A consumer leader elected after a node died can deliver again a message this copy still works on
   * (progress acks are not replicated, so the new leader finds its ack wait over). With
   * `oneDeliveryAtATime`, the later delivery waits for the earlier one, kept alive meanwhile, and is only acked when that one settled the
   * message, so one copy never works on a message twice at once (a tool with side effects would run
   * twice). When the earlier one did not settle it, the later one handles it, reading back earlier work.
   */
  const handleInTurn = (msg: JsMsg): Promise<boolean> => {
    const letGo = metrics.deliveriesInHand.take(spec.durable);
    const position = msg.info.streamSequence;
    const earlier = spec.oneDeliveryAtATime ? inHand.get(position) : undefined;
    const keepAlive = unacked
      ? undefined
      : setInterval(
          () => {
            try {
              msg.working();
            } catch {
              // the connection is closing: the message comes back after the ack wait
            }
          },
          Math.max(1000, ackWaitMs / 3),
        );
    const handled = (async () => {
      // Bounded: a first delivery stuck longer (its writes waiting out an election) must not hold the
      // message past its deadline; the later one then reads back what the first left.
      const settledBefore =
        earlier &&
        (await Promise.race([earlier.catch(() => false), sleep(EARLIER_DELIVERY_WAIT_MS, false, { ref: false })]));
      if (settledBefore) {
        msg.ack();
        metrics.messagesHandled.inc({ subject: spec.durable, outcome: "ack" });
        return true;
      }
      return handleOne(msg, earlier !== undefined);
    })().finally(() => {
      letGo();
      clearInterval(keepAlive);
      if (inHand.get(position) === handled) inHand.delete(position);
    });
    if (spec.oneDeliveryAtATime) inHand.set(position, handled);
    return handled;
  };

  /**
   * Messages pulled but not started go back at once, so another copy has them now. Without acks
   * there is no going back: the server counts them done, so this copy handles them before it stops.
   */
  const handBackUnstarted = (msg: JsMsg) => {
    const task = (
      unacked
        ? handleInTurn(msg).then(() => undefined)
        : giveBack(msg).then(() => metrics.messagesHandled.inc({ subject: spec.durable, outcome: "handBack" }))
    )
      .catch((error: unknown) => log.warn({ err: error, subject: msg.subject }, "could not hand a message back"))
      .finally(() => running.delete(task));
    running.add(task);
  };

  /**
   * Pulls as many messages as there are free slots, and starts each as it arrives: a message is never
   * held without being worked on (and kept alive), so none outlasts its ack wait in a buffer and is
   * delivered a second time while the first still waits. Returns when this copy stops; throws when a
   * pull fails (the durable is gone, the server stopped answering).
   */
  const pull = async (consumer: Consumer): Promise<void> => {
    while (!stopping.signal.aborted) {
      if (!(await slots.acquire(stopping.signal))) return;
      let reserved = 1 + slots.tryAcquire(MAX_PULL_BATCH - 1);
      try {
        const batch = await consumer.fetch({ max_messages: reserved, expires: PULL_EXPIRES_MS });
        const close = () => void batch.close().catch(() => undefined);
        stopping.signal.addEventListener("abort", close, { once: true });
        const overdue = setTimeout(close, PULL_EXPIRES_MS + PULL_EXPIRY_GRACE_MS);
        try {
          for await (const msg of batch) {
            deliveredUpTo = Math.max(deliveredUpTo, msg.info.streamSequence);
            if (spec.ignore?.(msg.headers)) {
              // Its reserved slot stays free for the batch's next message, or is released after it.
              if (!unacked) msg.ack();
              continue;
            }
            if (stopping.signal.aborted || reserved === 0) {
              handBackUnstarted(msg);
              continue;
            }
            reserved--;
            failures = 0;
            const task = handleInTurn(msg)
              .then(() => undefined)
              .finally(() => {
                slots.release();
                running.delete(task);
              });
            running.add(task);
          }
        } finally {
          clearTimeout(overdue);
          stopping.signal.removeEventListener("abort", close);
        }
      } finally {
        for (; reserved > 0; reserved--) slots.release();
      }
    }
  };

  let consumer: Consumer | undefined = await whileStarting(attach);
  let failures = 0;
  const supervising = (async () => {
    while (!stopping.signal.aborted) {
      try {
        if (!consumer) {
          await ensureDurable(jsm, spec, deliveredUpTo);
          consumer = await attach();
          pulledAgainAt = Date.now();
          log.info({ durable: spec.durable, afterStreamSeq: deliveredUpTo }, "pulling again");
        }
        await pull(consumer);
      } catch (error) {
        consumer = undefined;
        const next = afterPullFailure(error);
        if (stopping.signal.aborted) return;
        if (next.stop) return void log.error({ err: error, durable: spec.durable }, "stopped pulling");
        failures++;
        log.warn(
          { err: error, durable: spec.durable, reason: next.reason },
          "lost the pull; making the durable again if it is gone, and pulling afresh",
        );
        await pause(backoffDelayMs(failures, RESUBSCRIBE_BACKOFF), stopping.signal);
      }
    }
  })();

  return {
    async stop() {
      stopping.abort();
      stopReportingLag();
      await supervising;
      if (!(await within(Promise.allSettled([...running]), stopGraceMs))) {
        log.warn(
          { durable: spec.durable, running: running.size, stopGraceMs },
          "handlers still running after the stop grace; their messages come back after the ack wait",
        );
      }
    },
  };
}

/** How long a later delivery waits for this copy's earlier one of the same message (`oneDeliveryAtATime`). */
const EARLIER_DELIVERY_WAIT_MS = 10_000;

/** A message first delivered this long after it was stored waited for something, perhaps a delivery before. */
const LATE_DELIVERY_MS = 2_000;

/**
 * Whether a message the server counts as delivered once may have been delivered before. A durable
 * made again after the server lost it, or a consumer leader elected after a node died, can deliver
 * again a message whose ack was lost, as if for the first time (the lost state held its delivery). Such a
 * message was stored before this copy pulled again, or long before it comes; a handler told that
 * earlier work may exist reads it back, at the price of a read for a message that merely waited.
 */
function mayHaveBeenDelivered(msg: JsMsg, pulledAgainAt: number, now = Date.now()): boolean {
  const storedAt = msg.time.getTime();
  return storedAt < pulledAgainAt || now - storedAt > LATE_DELIVERY_MS;
}

/** Whether `promise` settled within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const settled = await Promise.race([promise.then(() => true as const), timedOut]);
  clearTimeout(timer);
  return settled;
}
