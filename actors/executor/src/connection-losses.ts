import type { NatsConnection } from "@nats-io/transport-node";

/**
 * Tells waiting requests that the connection was lost and is back. A reply published while this client
 * was disconnected (its server died, the network broke) is never delivered: the requests that were
 * waiting then would wait out their whole timeout for nothing. They hear of it once the connection is
 * back, so what they send again is not written into a connection that is going away.
 */
export class ConnectionLosses {
  /** Waiting for a loss. */
  readonly #waiting = new Set<() => void>();
  /** Lost while they waited: told at the reconnect. */
  readonly #lost = new Set<() => void>();

  constructor(nc: NatsConnection) {
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === "disconnect") {
          for (const waiting of this.#waiting) this.#lost.add(waiting);
          this.#waiting.clear();
        } else if (status.type === "reconnect") {
          const lost = [...this.#lost];
          this.#lost.clear();
          for (const tell of lost) tell();
        }
      }
    })();
  }

  /** Resolves once the connection was lost and is back; `cancel` stops waiting for it. */
  next(): { lostAndBack: Promise<void>; cancel(): void } {
    let resolve: () => void = () => {};
    const lostAndBack = new Promise<void>((r) => (resolve = r));
    this.#waiting.add(resolve);
    return {
      lostAndBack,
      cancel: () => {
        this.#waiting.delete(resolve);
        this.#lost.delete(resolve);
      },
    };
  }
}
