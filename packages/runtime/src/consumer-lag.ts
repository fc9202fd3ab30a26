import type { ConsumerInfo, JetStreamManager } from "@nats-io/jetstream";
import { Gauge, type Registry } from "prom-client";

/** Longest a scrape waits for the server's consumer info; a durable that does not answer is left out. */
const INFO_TIMEOUT_MS = 2_000;
/** Scrapes within this share one round of consumer-info requests (both gauges of one scrape read it). */
const SNAPSHOT_REUSE_MS = 1_000;

interface Watched {
  jsm: JetStreamManager;
  stream: string;
  durable: string;
}

/**
 * Queue depth and lag of the durables this copy pulls from, read from JetStream's consumer info when
 * Prometheus scrapes (one request per durable per scrape, nothing in between). Every copy pulling from
 * a durable reports the same numbers (dashboards take the max).
 */
export class ConsumerLag {
  readonly #watched = new Map<string, Watched>();
  #snapshot: { at: number; infos: Promise<[Watched, ConsumerInfo | undefined][]> } | undefined;

  constructor(registry: Registry) {
    const infos = () => this.#infos();
    const gauge = (name: string, help: string, read: (info: ConsumerInfo) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ["stream", "durable"],
        registers: [registry],
        async collect() {
          this.reset();
          for (const [{ stream, durable }, info] of await infos()) if (info) this.set({ stream, durable }, read(info));
        },
      });
    gauge(
      "toolformer_consumer_pending_messages",
      "Messages on the durable's subjects not yet delivered to it: its lag",
      (info) => info.num_pending,
    );
    gauge(
      "toolformer_consumer_ack_pending_messages",
      "Messages delivered on the durable and not yet acknowledged: work in hand",
      (info) => info.num_ack_pending,
    );
  }

  /** Reports `durable` of `stream` from now on; returns what stops reporting it. */
  watch(jsm: JetStreamManager, stream: string, durable: string): () => void {
    const key = `${stream}/${durable}`;
    this.#watched.set(key, { jsm, stream, durable });
    return () => void this.#watched.delete(key);
  }

  #infos(): Promise<[Watched, ConsumerInfo | undefined][]> {
    const now = Date.now();
    if (this.#snapshot && now - this.#snapshot.at < SNAPSHOT_REUSE_MS) return this.#snapshot.infos;
    const infos = Promise.all(
      [...this.#watched.values()].map(async (watched): Promise<[Watched, ConsumerInfo | undefined]> => {
        const timeout = new Promise<undefined>((resolve) =>
          setTimeout(() => resolve(undefined), INFO_TIMEOUT_MS).unref(),
        );
        const info = watched.jsm.consumers.info(watched.stream, watched.durable).catch(() => undefined);
        return [watched, await Promise.race([info, timeout])];
      }),
    );
    this.#snapshot = { at: now, infos };
    return infos;
  }
}
