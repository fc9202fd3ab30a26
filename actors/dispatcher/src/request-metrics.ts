import { Counter, Histogram, type Registry } from "prom-client";
import {
  DEFAULT_TENANT,
  RequestStatus,
  tenantOfRequestId,
  type OrchestrateReply,
  type RequestRun,
} from "@toolformer/protocol";
import { boundedLabel, type ActorContext } from "@toolformer/runtime";

/** Requests answered by this dispatcher: how many by status, model and tenant, and how long each took. */
export class RequestMetrics {
  readonly #requests: Counter<"status" | "model" | "tenant">;
  readonly #duration: Histogram<"status" | "model">;
  readonly #model = boundedLabel();
  readonly #tenant = boundedLabel();

  constructor(registry: Registry) {
    this.#requests = new Counter({
      name: "toolformer_requests_total",
      help: "Requests answered, by status (completed, failed, cancelled, timeout, ...), model and tenant",
      labelNames: ["status", "model", "tenant"],
      registers: [registry],
    });
    this.#duration = new Histogram({
      name: "toolformer_request_duration_seconds",
      help: "From a request's acceptance to its reply, by status and model",
      labelNames: ["status", "model"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    });
  }

  /** The reply is stored; a cancelled one also tells how long the cancel took to become the reply. */
  answered(ctx: ActorContext, run: RequestRun, reply: OrchestrateReply): void {
    const model = this.#model(run.request.model);
    const tenant = this.#tenant(tenantOfRequestId(run.requestId) ?? DEFAULT_TENANT);
    this.#requests.inc({ status: reply.status, model, tenant });
    this.#duration.observe({ status: reply.status, model }, Math.max(0, Date.now() - run.acceptedAt) / 1000);
    const heardAt = ctx.cancellations.heardAt(run.requestId);
    if (reply.status === RequestStatus.cancelled && heardAt !== undefined)
      ctx.metrics.cancels.stopped("request_reply", heardAt);
  }
}
