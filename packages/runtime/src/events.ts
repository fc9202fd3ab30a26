import { createHash } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import {
  canonicalJson,
  ContentType,
  encode,
  eventsSubject,
  Header,
  subjectToken,
  type OrchestrateEventDraft,
} from "@toolformer/protocol";
import { publishStored, type RetryOptions } from "./jetstream-io.ts";

/** How long a publisher that names no deadline keeps trying: a node's death costs a few seconds of elections. */
export const DEFAULT_EVENT_RETRY_MS = 30_000;

/**
 * The event's `Nats-Msg-Id`: its request, type and a digest of everything it says except the time it
 * was stamped. A publish tried again after a timeout that stored it is dropped as a duplicate, and so is
 * the same event published again inside the 2-minute window (a round taken over after a failover
 * announcing the calls it schedules again). Events that differ in anything but their time never share
 * an id, so none is lost: a progress report of a second attempt with other content, a second outcome of
 * a call run again, a model turn asked again that answered differently.
 */
export function eventMessageId(event: OrchestrateEventDraft): string {
  const digest = createHash("sha256").update(canonicalJson(event)).digest("hex").slice(0, 24);
  return `${subjectToken(event.requestId)}:${event.type}:${digest}`;
}

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
