import type { JetStreamClient } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import {
  ContentType,
  encode,
  eventsSubject,
  Header,
  MESSAGE_IDS,
  type OrchestrateEventDraft,
} from "@toolformer/protocol";
import { publishStored, type RetryOptions } from "./jetstream-io.ts";

/** How long a publisher that names no deadline keeps trying: a node's death costs a few seconds of elections. */
export const DEFAULT_EVENT_RETRY_MS = 30_000;

/** The event's `Nats-Msg-Id` (`MESSAGE_IDS.event`). */
export const eventMessageId = MESSAGE_IDS.event;

/**
 * Publishes public events (JSON) into the events stream and waits for the server's ack, so events
 * that are causally ordered (scheduled before started before completed) are stored in that order.
 */
export class EventPublisher {
  readonly #js: JetStreamClient;

  constructor(js: JetStreamClient) {
    this.#js = js;
  }

  /**
   * Tries again while the stream has no leader, until `retry.giveUpAt` (the request's deadline; by
   * default DEFAULT_EVENT_RETRY_MS from now); the id makes a retry store the event once.
   */
  async publish(event: OrchestrateEventDraft, traceparent?: string, retry?: RetryOptions): Promise<void> {
    const h = headers();
    h.set(Header.contentType, ContentType.json);
    h.set(Header.eventType, event.type);
    if (traceparent) h.set(Header.traceparent, traceparent);
    await publishStored(
      this.#js,
      eventsSubject(event.requestId),
      encode({ ...event, at: Date.now() }, ContentType.json),
      {
        msgID: eventMessageId(event),
        headers: h,
        giveUpAt: retry?.giveUpAt ?? Date.now() + DEFAULT_EVENT_RETRY_MS,
        signal: retry?.signal,
      },
    );
  }
}
