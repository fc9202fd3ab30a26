import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { AcquireReply, AcquireRequest, RateLimitScope } from "@toolformer/protocol";
import { boundedLabel } from "@toolformer/runtime";
import { usedShare } from "./scope-state.ts";
import type { WindowState } from "./sliding-window.ts";

/** Permits this limiter copy answered, how long granted calls waited, and how full each scope is. */
export class LimiterMetrics {
  readonly #permits: Counter<"scope" | "outcome">;
  readonly #wait: Histogram<"scope">;
  readonly #utilization: Gauge<"scope">;
  readonly #scope = boundedLabel();

  constructor(registry: Registry) {
    this.#permits = new Counter({
      name: "toolformer_ratelimit_permits_total",
      help: "Acquire answers by scope and outcome: granted (counted on each of the call's scopes), or refused on the scope that refused it (deadline, cancelled, again)",
      labelNames: ["scope", "outcome"],
      registers: [registry],
    });
    this.#wait = new Histogram({
      name: "toolformer_ratelimit_wait_seconds",
      help: "From a call's first ask to its grant (asks again after a hold included), by each of its scopes",
      labelNames: ["scope"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    });
    this.#utilization = new Gauge({
      name: "toolformer_ratelimit_utilization_ratio",
      help: "Share of a scope's room taken (0 to 1) when this copy last decided on it",
      labelNames: ["scope"],
      registers: [registry],
    });
  }

  /** A confirmation (a late grant's caller asking again) is the same permit: not counted twice. */
  answered(request: AcquireRequest, reply: AcquireReply, now: number): void {
    if (request.confirm) return;
    if (!reply.granted) return void this.#permits.inc({ scope: this.#scope(reply.scope), outcome: reply.reason });
    for (const { key } of request.scopes) {
      const scope = this.#scope(key);
      this.#permits.inc({ scope, outcome: "granted" });
      this.#wait.observe({ scope }, Math.max(0, now - request.since) / 1000);
    }
  }

  /** A decision on `scope` left it in `state`. */
  decided(scope: RateLimitScope, state: WindowState, now: number): void {
    const share = usedShare(state, scope, now);
    if (share !== undefined) this.#utilization.set({ scope: this.#scope(scope.key) }, share);
  }
}
