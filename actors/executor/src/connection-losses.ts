import type { NatsConnection } from "@nats-io/transport-node";

/**
 * Tells waiting requests that a request or reply of theirs may have been lost on the way: this client's
 * connection was lost and is back (its server died, the network broke), or a node of the cluster went
 * away (a request to a service connected there, or a reply routed through it, is gone with it). Core
 * NATS delivers at most once, so a request that waits then would wait out its whole timeout for
 * nothing. Lost connections are told once the connection is back, so what they send again is not
 * written into a connection that is going away; a node's departure is told at once.
 */
export class ConnectionLosses {
  /** Waiting for a loss. */
  readonly #waiting = new Set<() => void>();
  /** Lost while they waited: told at the reconnect. */
  readonly #lost = new Set<() => void>();
  /** The cluster's client URLs in the last INFO from the server: one that goes missing is a node gone. */
  #nodes = new Set<string>();

  constructor(nc: NatsConnection) {
    this.#nodes = nodesOf(nc);
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === "disconnect") {
          for (const waiting of this.#waiting) this.#lost.add(waiting);
          this.#waiting.clear();
        } else if (status.type === "reconnect") {
          this.#nodes = nodesOf(nc);
          this.#tell([...this.#lost]);
          this.#lost.clear();
        } else if (status.type === "update") {
          const before = this.#nodes;
          this.#nodes = nodesOf(nc);
          if ([...before].some((node) => !this.#nodes.has(node))) {
            const waiting = [...this.#waiting];
            this.#waiting.clear();
            this.#tell(waiting);
          }
        }
      }
    })();
  }

  /** Resolves once a request or reply may have been lost (see the class); `cancel` stops waiting for it. */
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

  #tell(waiting: (() => void)[]): void {
    for (const tell of waiting) tell();
  }
}

/**
 * The client URLs the server announces for its cluster (its INFO's `connect_urls`, sent again whenever
 * a node joins or leaves).
 */
function nodesOf(nc: NatsConnection): Set<string> {
  return new Set(nc.info?.connect_urls ?? []);
}
