import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { z } from "zod";
import { applyDirective, retry, terminate, type Directive } from "./directive.ts";
import type { Logger } from "./logger.ts";
import type { ActorMetrics } from "./metrics.ts";
import { Semaphore } from "./semaphore.ts";
import { decodeValidated } from "./wire.ts";

export const DEFAULT_ACK_WAIT_MS = 30_000;
export const DEFAULT_MAX_DELIVER = 5;
const MAX_RETRY_DELAY_MS = 30_000;

export interface DurableSpec {
  stream: string;
  durable: string;
  filterSubject: string;
  ackWaitMs?: number;
  maxDeliver?: number;
}

export interface Delivery {
  msg: JsMsg;
  /** 1 on first delivery; larger when the server redelivers (a handler died or asked to retry). */
  deliveryCount: number;
  maxDeliver: number;
  /**
   * Aborted when this copy stops (SIGTERM, scale-in). A handler that sees it hands its message back
   * (`retry(0)`) as soon as its work is safely recorded, so another copy goes on without waiting for
   * the ack wait or the grace period.
   */
  stopping: AbortSignal;
}

export interface ConsumerSpec<S extends z.ZodType> extends DurableSpec {
  schema: S;
  /** Messages handled at once by this copy. */
  maxInFlight: number;
  handle(message: z.output<S>, delivery: Delivery): Promise<Directive>;
}

export interface RunningConsumer {
  /** Stops pulling, waits for the handlers already running, then returns. */
  stop(): Promise<void>;
}

/**
 * Creates the durable if missing. Copies of an actor share one durable, so JetStream hands each
 * message to exactly one of them and redelivers it if that copy dies before acking.
 */
export async function ensureDurable(jsm: JetStreamManager, spec: DurableSpec): Promise<void> {
  try {
    await jsm.consumers.info(spec.stream, spec.durable);
    return;
  } catch (error) {
    if (!/not found/i.test(String(error))) throw error;
  }
  try {
    await jsm.consumers.add(spec.stream, {
      durable_name: spec.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: (spec.ackWaitMs ?? DEFAULT_ACK_WAIT_MS) * 1_000_000,
      max_deliver: spec.maxDeliver ?? DEFAULT_MAX_DELIVER,
      filter_subject: spec.filterSubject,
      max_ack_pending: 20_000,
    });
  } catch (error) {
    if (!/already in use|already exists/i.test(String(error))) throw error;
  }
}

/**
 * Pulls from a durable and runs the handler for each message with bounded concurrency. A message that
 * does not decode or validate is terminated (it would fail the same way forever); a handler that
 * throws is retried with backoff; long handlers keep their message alive with in-progress acks.
 */
export async function runConsumer<S extends z.ZodType>(
  js: JetStreamClient,
  jsm: JetStreamManager,
  spec: ConsumerSpec<S>,
  log: Logger,
  metrics: ActorMetrics,
): Promise<RunningConsumer> {
  await ensureDurable(jsm, spec);
  const consumer = await js.consumers.get(spec.stream, spec.durable);
  const messages = await consumer.consume({ max_messages: Math.min(spec.maxInFlight, 256) });
  const slots = new Semaphore(spec.maxInFlight);
  const stopping = new AbortController();
  const running = new Set<Promise<void>>();
  const ackWaitMs = spec.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
  const maxDeliver = spec.maxDeliver ?? DEFAULT_MAX_DELIVER;

  const handleOne = async (msg: JsMsg): Promise<void> => {
    const endTimer = metrics.handlerSeconds.startTimer({ subject: spec.durable });
    const decoded = decodeValidated(msg.data, msg.headers, spec.schema);
    if (!decoded.ok) {
      log.warn({ subject: msg.subject, error: decoded.error }, "terminating a malformed message");
      msg.term(decoded.error.message.slice(0, 256));
      metrics.messagesHandled.inc({ subject: spec.durable, outcome: "rejected" });
      return;
    }
    const keepAlive = setInterval(() => msg.working(), Math.max(1000, ackWaitMs / 3));
    let directive: Directive;
    try {
      directive = await spec.handle(decoded.value, {
        msg,
        deliveryCount: msg.info.deliveryCount,
        maxDeliver,
        stopping: stopping.signal,
      });
    } catch (error) {
      const delayMs = Math.min(MAX_RETRY_DELAY_MS, 250 * 2 ** msg.info.deliveryCount);
      log.error({ err: error, subject: msg.subject }, "handler failed; the message will be retried");
      directive = msg.info.deliveryCount >= maxDeliver ? terminate(String(error)) : retry(delayMs);
    } finally {
      clearInterval(keepAlive);
      endTimer();
    }
    applyDirective(msg, directive);
    metrics.messagesHandled.inc({ subject: spec.durable, outcome: directive.kind });
  };

  const loop = (async () => {
    for await (const msg of messages) {
      await slots.acquire();
      const task = handleOne(msg).finally(() => {
        slots.release();
        running.delete(task);
      });
      running.add(task);
    }
  })();

  return {
    async stop() {
      stopping.abort();
      await messages.close();
      await loop;
      await Promise.allSettled([...running]);
    },
  };
}
