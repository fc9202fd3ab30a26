import { CONSUMERS, EVENTS_WILDCARD, OrchestrateEventSchema, SERVICE_NAMES, STREAMS } from "@toolformer/protocol";
import { ack, KvCasStore, runConsumer, type ActorDefinition } from "@toolformer/runtime";
import { StatsFlusher } from "./stats-flusher.ts";
import { deltaOf } from "./tool-stats.ts";

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
      const flusher = new StatsFlusher(await KvCasStore.open(ctx, kv), ctx.log);
      flusher.start();
      const consumer = await runConsumer(
        ctx.js,
        ctx.jsm,
        {
          stream: STREAMS.events.name,
          durable: CONSUMERS.speculationObserver,
          filterSubject: EVENTS_WILDCARD,
          schema: OrchestrateEventSchema,
          maxInFlight: 256,
          async handle(event) {
            const delta = deltaOf(event);
            if (delta && "tool" in event) flusher.add(event.tool, delta);
            return ack();
          },
        },
        ctx.log,
        ctx.metrics,
      );
      return {
        async stop() {
          await consumer.stop();
          await flusher.stop();
        },
      };
    },
  };
}
