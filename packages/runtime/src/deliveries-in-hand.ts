import { Gauge, type Registry } from "prom-client";

/**
 * The deliveries this process is handling, by durable: for operators a gauge (the calls an executor
 * runs, the rounds a scheduler holds open, the requests a dispatcher drives), and for the idle trimmer
 * whether any at all are in hand, since a trim's pause would keep their results or cancels waiting.
 */
export class DeliveriesInHand {
  #total = 0;
  readonly #gauge: Gauge<"subject">;

  constructor(registry: Registry) {
    this.#gauge = new Gauge({
      name: "toolformer_deliveries_in_hand",
      help: "Deliveries being handled, by durable",
      labelNames: ["subject"],
      registers: [registry],
    });
  }

  /** Counts one delivery of `durable` as in hand until the returned function is called (once). */
  take(durable: string): () => void {
    this.#total++;
    this.#gauge.inc({ subject: durable });
    return () => {
      this.#total--;
      this.#gauge.dec({ subject: durable });
    };
  }

  get total(): number {
    return this.#total;
  }
}
