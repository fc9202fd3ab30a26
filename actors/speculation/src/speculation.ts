import { setTimeout as sleep } from "node:timers/promises";
import {
  CONSUMERS,
  EVENTS_WILDCARD,
  INTERNAL_SUBJECTS,
  OrchestrateEventSchema,
  QUEUE_GROUPS,
  SERVICE_NAMES,
  SpeculationContextSchema,
  SpeculationTranscriptSchema,
  STREAMS,
} from "@toolformer/protocol";
import { registryFromEndpoints } from "@toolformer/providers";
import {
  ack,
  decodeValidated,
  KvCasStore,
  runConsumer,
  type ActorContext,
  type ActorDefinition,
  type Logger,
} from "@toolformer/runtime";
import { SpeculationLedgerStore } from "@toolformer/speculation-ledger";
import { AdditiveFlusher } from "./additive-flusher.ts";
import { CALIBRATION, calibrationDeltas, CalibrationCache } from "./calibration.ts";
import type { SpeculationOptions } from "./config.ts";
import { speculate, type EngineDeps } from "./engine.ts";
import { EMPTY_HISTORY, lessonsOf, mergeHistory } from "./predictors/history-model.ts";
import { SpeculationMetrics } from "./speculation-metrics.ts";
import { unobserved } from "./observed-events.ts";
import { addStats, deltaOf, EMPTY_STATS } from "./tool-stats.ts";

/** How long a stopping copy waits for the guesses under way. */
const GUESS_STOP_WAIT_MS = 2_000;

/**
 * The speculation engine. While the model thinks, it guesses the turn's tool calls and starts the
 * safe, confident ones (docs/adr/0010); it learns from every finished request (history model, in KV,
 * shared by all copies) and from every hit and miss (each predictor's precision per tool).
 */
export function speculationActor(options: SpeculationOptions): ActorDefinition {
  return {
    name: "speculation",
    serviceName: SERVICE_NAMES.speculation,
    description: "Predicts tool calls and runs the safe ones early; learns from every request.",
    needs: {
      streams: ["events", "exec", "speculation"],
      buckets: ["speculationHistory", "speculationCalls"],
    },
    async start(ctx) {
      const kv = ctx.kv.speculationHistory;
      if (!kv) throw new Error("the speculation bucket was not provisioned");
      const store = await KvCasStore.open(ctx, kv);
      const toolStats = new AdditiveFlusher(store, { empty: EMPTY_STATS, add: addStats }, ctx.log);
      const calibration = new AdditiveFlusher(store, CALIBRATION, ctx.log);
      const history = new AdditiveFlusher(store, { empty: EMPTY_HISTORY, add: mergeHistory }, ctx.log);
      for (const flusher of [toolStats, calibration, history]) flusher.start();
      const ledger = await SpeculationLedgerStore.open(ctx);
      const metrics = new SpeculationMetrics(ctx.metrics.registry);
      const deps: EngineDeps = {
        ledger,
        history: kv,
        calibration: new CalibrationCache(kv),
        policy: options,
        minObservations: options.minObservations,
        onFastModelUsage: (usage) => metrics.fastModelUsed(usage),
        ...(options.fastModel
          ? { fastModel: { registry: registryFromEndpoints(options), ref: options.fastModel } }
          : {}),
      };
      /** Guesses under way: a stopping copy lets them finish (bounded) before its connection closes. */
      const guessing = new Set<Promise<void>>();
      const predictions = ctx.nc.subscribe(INTERNAL_SUBJECTS.speculationPredict, {
        queue: QUEUE_GROUPS.speculation,
        callback: (_error, msg) => {
          const decoded = decodeValidated(msg.data, msg.headers, SpeculationContextSchema);
          if (!decoded.ok)
            return void ctx.log.warn({ error: decoded.error }, "ignoring a malformed speculation context");
          const guess = speculate(decoded.value, ctx, deps)
            .catch((error: unknown) =>
              ctx.log.warn(
                { err: error, requestId: decoded.value.requestId },
                "speculation failed; the request runs as usual",
              ),
            )
            .finally(() => guessing.delete(guess));
          guessing.add(guess);
        },
      });

      const learner = await runConsumer(
        ctx.js,
        ctx.jsm,
        {
          stream: STREAMS.speculation.name,
          durable: CONSUMERS.speculationLearner,
          filterSubject: INTERNAL_SUBJECTS.speculationLearnWildcard,
          schema: SpeculationTranscriptSchema,
          maxInFlight: 64,
          handBack: "redeliver",
          async handle(transcript) {
            for (const [key, lesson] of lessonsOf(transcript)) history.add(key, lesson);
            return ack();
          },
        },
        ctx.log,
        ctx.metrics,
      );

      await retireAckedObserver(ctx.jsm, ctx.log);
      const observer = await runConsumer(
        ctx.js,
        ctx.jsm,
        {
          stream: STREAMS.events.name,
          durable: CONSUMERS.speculationObserver,
          filterSubject: EVENTS_WILDCARD,
          schema: OrchestrateEventSchema,
          maxInFlight: 256,
          // What it learns is statistics: an ack per event (a third of the engine's CPU, and work for
          // the server, in the burst of a wide turn) would only guard against losing the few events a
          // dying copy held (ADR 0033). A stopping copy still counts every event it pulled.
          acks: "none",
          // It learns from every event of every request: a span each would triple a request's trace.
          traced: false,
          ignore: unobserved,
          async handle(event) {
            const delta = deltaOf(event);
            if (delta && "tool" in event) toolStats.add(`tool.${event.tool}`, delta);
            for (const [key, change] of calibrationDeltas(event)) calibration.add(key, change);
            metrics.observe(event);
            return ack();
          },
        },
        ctx.log,
        ctx.metrics,
      );
      return {
        /**
         * Takes no more turns, lets the guesses under way finish (at most GUESS_STOP_WAIT_MS: a guess
         * left behind only means a call the model's call runs itself), hands back the events and
         * transcripts not counted yet, and writes what it has counted to KV before the connection closes.
         */
        async stop() {
          await predictions.drain();
          const waited = new AbortController();
          const bound = sleep(GUESS_STOP_WAIT_MS, undefined, { signal: waited.signal }).catch(() => undefined);
          await Promise.race([Promise.allSettled([...guessing]), bound]);
          waited.abort();
          await Promise.all([observer.stop(), learner.stop()]);
          await Promise.all([toolStats, calibration, history].map((flusher) => flusher.stop()));
        },
      };
    },
  };
}

/**
 * Deletes the observer's durable from before ADR 0033 (an ack policy cannot change in place). During a
 * rolling upgrade an old copy makes it again and both count the same events for a while: statistics,
 * not records. Missing (the usual case) or not deletable, it is left alone.
 */
async function retireAckedObserver(jsm: ActorContext["jsm"], log: Logger): Promise<void> {
  try {
    await jsm.consumers.delete(STREAMS.events.name, CONSUMERS.retiredSpeculationObserver);
    log.info({ durable: CONSUMERS.retiredSpeculationObserver }, "deleted the observer's retired durable");
  } catch (error) {
    if (!/not found/i.test(String(error)))
      log.warn({ err: error }, "could not delete the observer's retired durable; it only holds state");
  }
}
