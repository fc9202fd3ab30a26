import { Counter, Histogram, type Registry } from "prom-client";

/**
 * Cancels as every actor copy hears them, and how long a cancel takes to take effect where it stops
 * work. Every copy hears every broadcast, so the counter is per copy (dashboards take the max).
 */
export class CancelMetrics {
  readonly #heard: Counter<"scope" | "reason">;
  readonly #propagation: Histogram<"stage">;

  constructor(registry: Registry) {
    this.#heard = new Counter({
      name: "toolformer_cancels_total",
      help: "Cancel broadcasts heard by this copy, by scope (request, call) and reason (client, timeout, race, speculation)",
      labelNames: ["scope", "reason"],
      registers: [registry],
    });
    this.#propagation = new Histogram({
      name: "toolformer_cancel_propagation_seconds",
      help: "From hearing a cancel to the work it stops having stopped, by stage (request_reply: the cancelled reply is stored; tool_stopped: the cancelled call's record is published)",
      labelNames: ["stage"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
  }

  heard(scope: "request" | "call", reason: string): void {
    this.#heard.inc({ scope, reason });
  }

  /** The work a cancel stops has stopped; `heardAt`: when this copy heard it (epoch ms). */
  stopped(stage: "request_reply" | "tool_stopped", heardAt: number): void {
    this.#propagation.observe({ stage }, Math.max(0, Date.now() - heardAt) / 1000);
  }
}
