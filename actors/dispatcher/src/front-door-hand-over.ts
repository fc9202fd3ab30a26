import type { NatsConnection } from "@nats-io/transport-node";
import type { ServiceMsg } from "@nats-io/services";

/** A client's publish as the front door received it. */
export type FrontDoorMsg = Pick<ServiceMsg, "subject" | "data" | "headers" | "reply" | "respond">;

/**
 * The publishes this front door is still working on: queuing them, or waiting for the reply of a
 * known request's one run (a repeat waits in memory). A copy that stops hands each of them to the front
 * doors still serving, as the client sent it (same subject, body, headers and inbox: a tenant's request
 * stays that tenant's), so the client hears from
 * one of them instead of nothing; the front door that takes it over knows a publish whose queued copy
 * is its own and leaves the reply to that copy's runner.
 */
export class FrontDoorHandOver {
  readonly #inFlight = new Map<FrontDoorMsg, AbortController>();

  /** Runs `handle` for `msg`; once handed over, its signal is aborted and whatever it throws is dropped. */
  async run(msg: FrontDoorMsg, handle: (handedOver: AbortSignal) => Promise<void>): Promise<void> {
    const handedOver = new AbortController();
    this.#inFlight.set(msg, handedOver);
    try {
      await handle(handedOver.signal);
    } catch (error) {
      if (!handedOver.signal.aborted) throw error;
    } finally {
      this.#inFlight.delete(msg);
    }
  }

  /** Sends every publish in flight to its subject again; call it once this copy's endpoint has stopped. */
  handOver(nc: NatsConnection): number {
    const inFlight = [...this.#inFlight];
    for (const [msg, handedOver] of inFlight) {
      handedOver.abort();
      nc.publish(msg.subject, msg.data, {
        ...(msg.reply ? { reply: msg.reply } : {}),
        ...(msg.headers ? { headers: msg.headers } : {}),
      });
    }
    return inFlight.length;
  }
}
