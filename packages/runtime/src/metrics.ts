import { createServer, type Server, type ServerResponse } from "node:http";
import { collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";
import { CancelMetrics } from "./cancel-metrics.ts";
import { ConsumerLag } from "./consumer-lag.ts";
import { GenAiClientMetrics } from "./gen-ai-metrics.ts";
import type { HealthVerdict } from "./health.ts";
import { DeliveriesInHand } from "./deliveries-in-hand.ts";

/**
 * One registry per actor, so tests running several actors in one process do not mix their numbers.
 * What every actor reports lives here; an actor's own metrics register on `registry` beside its logic.
 */
export interface ActorMetrics {
  registry: Registry;
  messagesHandled: Counter<"subject" | "outcome">;
  handlerSeconds: Histogram<"subject">;
  deliveriesInHand: DeliveriesInHand;
  cancels: CancelMetrics;
  consumers: ConsumerLag;
  /** The GenAI client metrics, registered at first use (only actors that call models show them). */
  readonly genAi: GenAiClientMetrics;
}

export function createMetrics(actor: string): ActorMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ actor });
  // Node's and the process's metrics under their standard names (process_cpu_seconds_total, ...): what stock dashboards query.
  collectDefaultMetrics({ register: registry });
  let genAi: GenAiClientMetrics | undefined;
  return {
    registry,
    cancels: new CancelMetrics(registry),
    deliveriesInHand: new DeliveriesInHand(registry),
    consumers: new ConsumerLag(registry),
    get genAi() {
      return (genAi ??= new GenAiClientMetrics(registry));
    },
    messagesHandled: new Counter({
      name: "toolformer_messages_total",
      help: "Messages handled, by subject and outcome (ack, retry, terminate, rejected)",
      labelNames: ["subject", "outcome"],
      registers: [registry],
    }),
    handlerSeconds: new Histogram({
      name: "toolformer_handler_seconds",
      help: "Time spent handling one message",
      labelNames: ["subject"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [registry],
    }),
  };
}

/** What `/healthz` (liveness) and `/readyz` (readiness) answer, judged at each request. */
export interface HealthChecks {
  live(): HealthVerdict;
  ready(): HealthVerdict;
}

/**
 * `/metrics` for Prometheus; `/healthz` and `/readyz` for Kubernetes' probes: 200 or 503 with the
 * reason as the body (docs in deploy/README.md).
 */
export async function serveMetrics(port: number, registry: Registry, health: HealthChecks): Promise<Server> {
  const answer = (res: ServerResponse, verdict: HealthVerdict) =>
    void res.writeHead(verdict.ok ? 200 : 503, { "Content-Type": "text/plain" }).end(verdict.reason);
  const server = createServer((req, res) => {
    if (req.url === "/metrics") {
      registry
        .metrics()
        .then((text) => res.writeHead(200, { "Content-Type": registry.contentType }).end(text))
        .catch((error: unknown) => res.writeHead(500).end(String(error)));
      return;
    }
    if (req.url === "/healthz") return answer(res, health.live());
    if (req.url === "/readyz") return answer(res, health.ready());
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(port, resolve));
  return server;
}
