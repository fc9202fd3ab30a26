import type { KV } from "@nats-io/kv";
import {
  CONSUMERS,
  EVENTS_WILDCARD,
  OrchestrateEventSchema,
  SERVICE_NAMES,
  STREAMS,
  type OrchestrateEvent,
} from "@toolformer/protocol";
import { ack, runConsumer, updateWithCas, type ActorDefinition } from "@toolformer/runtime";
import { applyEvent, EMPTY_STATS, type ToolStats } from "./tool-stats.ts";

/**
 * The speculation engine, observing only: it reads every request's events and keeps per-tool
 * statistics in KV (shared by all copies, kept across restarts) for the predictors to build on.
 */
export function speculationActor(): ActorDefinition {
  return {
    name: "speculation",
    serviceName: SERVICE_NAMES.speculation,
    description: "Learns from completed tool calls (observe-only).",
    needs: { streams: ["events"], buckets: ["speculationHistory"] },
    async start(ctx) {
      const kv = ctx.kv.speculationHistory;
      if (!kv) throw new Error("the speculation bucket was not provisioned");
      const consumer = await runConsumer(
        ctx.js,
        ctx.jsm,
        {
          stream: STREAMS.events.name,
          durable: CONSUMERS.speculationObserver,
          filterSubject: EVENTS_WILDCARD,
          schema: OrchestrateEventSchema,
          maxInFlight: 64,
          async handle(event) {
            if ("tool" in event) await recordToolEvent(kv, event);
            return ack();
          },
        },
        ctx.log,
        ctx.metrics,
      );
      return { stop: () => consumer.stop() };
    },
  };
}

function recordToolEvent(kv: KV, event: OrchestrateEvent & { tool: string }): Promise<void> {
  return updateWithCas<ToolStats, void>(kv, `tool.${event.tool}`, EMPTY_STATS, (stats) => {
    const next = applyEvent(stats, event);
    return next ? { next, result: undefined } : { result: undefined };
  });
}
