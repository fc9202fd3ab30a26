import { CONSUMERS, INTERNAL_SUBJECTS, RoundSubmitSchema, SERVICE_NAMES, STREAMS } from "@toolformer/protocol";
import { runConsumer, type ActorDefinition } from "@toolformer/runtime";
import { SpeculationLedgerStore } from "@toolformer/speculation-ledger";
import { ApprovalStore } from "@toolformer/tool-calls";
import { runRound } from "./run-round.ts";

/**
 * A round stays unacked while its scheduler runs it (kept alive by in-progress acks every third of
 * this); if that scheduler dies, another one takes the round over after at most this long.
 */
export const ROUND_ACK_WAIT_MS = 5_000;

/**
 * How long a stopping scheduler waits for its rounds to hand back. Nothing of a round must finish here
 * (its calls run on at the executors, the next scheduler takes it over), so a round still busy after
 * this (a publish retried through an election) is left to come back after the ack wait, and the copy
 * exits well within any grace period. The fault suite saw a stop outlast 15 s.
 */
export const ROUND_STOP_GRACE_MS = 3_000;

export interface SchedulerOptions {
  /** Rounds this copy runs at once. */
  maxConcurrentRounds: number;
}

export function schedulerActor(options: SchedulerOptions): ActorDefinition {
  return {
    name: "scheduler",
    serviceName: SERVICE_NAMES.scheduler,
    description: "Decides when each tool call of a round runs: strategy, parallelism, cancellation, deadline.",
    needs: {
      streams: ["rounds", "exec", "results", "events"],
      buckets: ["speculationCalls", "approvals"],
      objectStores: ["results"],
    },
    async start(ctx) {
      const ledger = await SpeculationLedgerStore.open(ctx);
      const approvals = await ApprovalStore.open(ctx);
      const consumer = await runConsumer(
        ctx.js,
        ctx.jsm,
        {
          stream: STREAMS.rounds.name,
          durable: CONSUMERS.scheduler,
          filterSubject: INTERNAL_SUBJECTS.roundSubmitWildcard,
          schema: RoundSubmitSchema,
          maxInFlight: options.maxConcurrentRounds,
          ackWaitMs: ROUND_ACK_WAIT_MS,
          stopGraceMs: ROUND_STOP_GRACE_MS,
          handle: (submit, delivery) => runRound(submit, delivery, ctx, ledger, approvals),
        },
        ctx.log,
        ctx.metrics,
      );
      return { stop: () => consumer.stop() };
    },
  };
}
