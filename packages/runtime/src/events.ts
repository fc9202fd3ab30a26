import type { JetStreamClient } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { ContentType, encode, eventsSubject, Header, type OrchestrateEventDraft } from "@toolformer/protocol";

/**
 * Publishes public events (JSON) into the events stream and waits for the server's ack, so events
 * that are causally ordered (scheduled before started before completed) are stored in that order.
 */
export class EventPublisher {
  readonly #js: JetStreamClient;

  constructor(js: JetStreamClient) {
    this.#js = js;
  }

  async publish(event: OrchestrateEventDraft, traceparent?: string): Promise<void> {
    const h = headers();
    h.set(Header.contentType, ContentType.json);
    if (traceparent) h.set(Header.traceparent, traceparent);
    await this.#js.publish(eventsSubject(event.requestId), encode({ ...event, at: Date.now() }, ContentType.json), {
      headers: h,
    });
  }
}
