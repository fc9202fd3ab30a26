import { CONSUMERS, INTERNAL_SUBJECTS, RoundSubmitSchema, SERVICE_NAMES, STREAMS } from "@toolformer/protocol";
import { runConsumer, type ActorDefinition } from "@toolformer/runtime";
import { runRound } from "./run-round.ts";

export interface SchedulerOptions {
  /** Rounds this copy runs at once. */
  maxConcurrentRounds: number;
}

export function schedulerActor(options: SchedulerOptions): ActorDefinition {
  return {
    name: "scheduler",
    serviceName: SERVICE_NAMES.scheduler,
    description: "Decides when each tool call of a round runs: strategy, parallelism, cancellation, deadline.",
    needs: { streams: ["rounds", "exec", "results", "events"], buckets: [] },
    async start(ctx) {
      const consumer = await runConsumer(
        ctx.js,
        ctx.jsm,
        {
          stream: STREAMS.rounds.name,
          durable: CONSUMERS.scheduler,
          filterSubject: INTERNAL_SUBJECTS.roundSubmitWildcard,
          schema: RoundSubmitSchema,
          maxInFlight: options.maxConcurrentRounds,
          handle: (submit, delivery) => runRound(submit, delivery, ctx),
        },
        ctx.log,
        ctx.metrics,
      );
      return { stop: () => consumer.stop() };
    },
  };
}
