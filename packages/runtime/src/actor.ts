import { jetstream, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { Svcm, type Service } from "@nats-io/services";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Server } from "node:http";
import { randomBytes } from "node:crypto";
import type { KV_BUCKETS, OBJECT_STORES, STREAMS } from "@toolformer/protocol";
import { CancellationWatcher } from "./cancellations.ts";
import type { BaseConfig } from "./config.ts";
import { connectNats } from "./connection.ts";
import { EventPublisher } from "./events.ts";
import { createLogger, type Logger } from "./logger.ts";
import { ConnectionWatch, liveness, readiness } from "./health.ts";
import { startIdleTrimmer } from "./idle-trimmer.ts";
import { watchParent } from "./parent-watch.ts";
import { createMetrics, serveMetrics, type ActorMetrics } from "./metrics.ts";
import { bind, type Provisioned } from "./provisioning.ts";
import type { TracingConfig } from "./trace-config.ts";
import { startTracing } from "./tracing.ts";

export const RUNTIME_VERSION = "0.1.0";

/** Everything an actor's logic gets from the runtime. */
export interface ActorContext {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  kv: Partial<Record<keyof typeof KV_BUCKETS, KV>>;
  objectStores: Provisioned["objectStores"];
  actorId: string;
  log: Logger;
  metrics: ActorMetrics;
  cancellations: CancellationWatcher;
  events: EventPublisher;
  /** What the actor's own spans may record (tool arguments and results only when opted in). */
  tracing: Pick<TracingConfig, "captureContent">;
  /** This copy's entry in the NATS service API; actors with public endpoints add them here. */
  service: Service;
}

export interface ActorDefinition {
  /** Short name: `dispatcher`, `scheduler`, ... */
  name: string;
  serviceName: string;
  description: string;
  needs: {
    streams: (keyof typeof STREAMS)[];
    buckets: (keyof typeof KV_BUCKETS)[];
    objectStores?: (keyof typeof OBJECT_STORES)[];
  };
  start(ctx: ActorContext): Promise<StartedLogic>;
}

/** What an actor's logic hands back once it runs. */
export interface StartedLogic {
  stop(): Promise<void>;
  /** The `data` of its endpoint on `subject` in the service API's stats (`$SRV.STATS`); undefined: none. */
  statsData?(subject: string): unknown;
  /** Whether it holds work due at set times; the process gives memory back only when not (`IdleSample`). */
  holdsTimedWork?(): boolean;
}

export interface RunningActor {
  actorId: string;
  name: string;
  /** Stops taking work, finishes or hands back what it holds, drains the connection. */
  stop(): Promise<void>;
  /** Whether its logic holds work due at set times (`StartedLogic.holdsTimedWork`). */
  holdsTimedWork(): boolean;
  /** Whether it is handling any delivery (a call, a round, a request) whose outcome someone waits for. */
  holdsWork(): boolean;
}

export async function startActor(definition: ActorDefinition, config: BaseConfig): Promise<RunningActor> {
  const actorId = config.actorId ?? `${definition.name}-${randomBytes(4).toString("hex")}`;
  const log = createLogger(definition.name, actorId, config.logLevel);
  const tracing = await startTracing(definition.serviceName, config.tracing);
  const metrics = createMetrics(definition.name);
  const nc = await connectNats(config.natsUrl, actorId, config.natsAuth);
  const connection = new ConnectionWatch(nc);
  let ready = false;
  let metricsServer: Server | undefined;
  try {
    const { jsm, kv, objectStores } = await bind(nc, definition.needs);
    const js = jetstream(nc);
    const cancellations = new CancellationWatcher(undefined, metrics.cancels);
    cancellations.start(nc);
    const stats: { data?: StartedLogic["statsData"] } = {};
    const service = await new Svcm(nc).add({
      name: definition.serviceName,
      version: RUNTIME_VERSION,
      description: definition.description,
      metadata: { actor: definition.name, actorId },
      // Asked for by `$SRV.STATS`, which may come before the logic has started.
      statsHandler: (endpoint) => Promise.resolve(stats.data?.(endpoint.subject)),
    });
    const logic = await definition.start({
      nc,
      js,
      jsm,
      kv,
      objectStores,
      actorId,
      log,
      metrics,
      cancellations,
      service,
      events: new EventPublisher(js),
      tracing: { captureContent: config.tracing.captureContent },
    });
    stats.data = logic.statsData?.bind(logic);
    // Its subscriptions reach the server before it says it serves: a request sent right after finds it.
    await nc.flush();
    // Listening only now, bound to what the admin provisioned: a startup probe passes once the copy can work.
    if (config.metricsPort > 0)
      metricsServer = await serveMetrics(config.metricsPort, metrics.registry, {
        live: () => liveness(connection.state, Date.now(), config.livenessDisconnectedMs),
        ready: () => readiness(connection.state, ready),
      });
    ready = true;
    log.info("serving");
    return {
      actorId,
      name: definition.name,
      holdsTimedWork: () => logic.holdsTimedWork?.() ?? false,
      holdsWork: () => metrics.deliveriesInHand.total > 0,
      async stop() {
        const stoppingAt = Date.now();
        ready = false;
        // Endpoints first, so requests go to the other copies from now on; then the actor's own work.
        await service.stop();
        await logic.stop();
        await cancellations.stop();
        await nc.drain();
        metricsServer?.close();
        await tracing.shutdown();
        log.info({ stopMs: Date.now() - stoppingAt }, "stopped");
      },
    };
  } catch (error) {
    await nc.close();
    await tracing.shutdown();
    throw error;
  }
}

/** How long a copy whose parent died may take to stop before it exits anyway. */
const ORPHAN_STOP_MS = 5_000;

/**
 * Runs one actor as a process: starts it, and on SIGTERM/SIGINT stops it (it stops taking work and
 * hands back what it has not finished, in seconds: the orchestrator's grace period is never the bound)
 * and exits 0, logging how long the stop took; a second signal exits at once with 1. A failure to
 * start exits 1 with the reason. A copy started by another process (TF_PARENT_PID) stops the same way
 * when that process dies (`parent-watch.ts`). Once quiet after a load, the process gives its memory back
 * (`idle-trimmer.ts`, ADR 0031): a long-running copy keeps what it needs idle, not what its peak took.
 */
export function runMain(definition: ActorDefinition, config: BaseConfig): void {
  // Watched from the start: a parent may die while the copy still connects (to a server gone with it).
  let onParentGone: () => void = () => {
    console.error(`${definition.name}: the process that started it is gone before it served; exiting`);
    process.exit(1);
  };
  watchParent(config.parentPid, () => onParentGone());
  startActor(definition, config).then(
    (actor) => {
      const log = createLogger(definition.name, actor.actorId, config.logLevel);
      startIdleTrimmer(log, { timedWork: () => actor.holdsTimedWork(), work: () => actor.holdsWork() });
      let stopping = false;
      const shutdown = (signal: NodeJS.Signals) => {
        if (stopping) {
          log.warn({ signal }, "second signal while stopping; exiting now");
          process.exit(1);
        }
        stopping = true;
        const startedAt = Date.now();
        log.info({ signal }, "stopping");
        actor.stop().then(
          () => {
            log.info({ signal, stopMs: Date.now() - startedAt }, "exiting after the stop");
            process.exit(0);
          },
          (error: unknown) => {
            log.error({ err: error, stopMs: Date.now() - startedAt }, "the stop failed");
            process.exit(1);
          },
        );
      };
      process.on("SIGTERM", shutdown);
      process.on("SIGINT", shutdown);
      onParentGone = () => {
        log.warn({ parentPid: config.parentPid }, "the process that started this copy is gone; stopping");
        // The server it started may have gone with it: then nothing answers the stop's hand-backs or drain.
        setTimeout(() => process.exit(1), ORPHAN_STOP_MS).unref();
        shutdown("SIGTERM");
      };
    },
    (error: unknown) => {
      console.error(`${definition.name} failed to start: ${error instanceof Error ? error.stack : String(error)}`);
      process.exit(1);
    },
  );
}
