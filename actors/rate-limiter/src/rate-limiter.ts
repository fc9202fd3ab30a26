import { Counter, Gauge } from "prom-client";
import {
  ACQUIRE_HOLD_MS,
  AcquireRequestSchema,
  INTERNAL_SUBJECTS,
  PromoteCallSchema,
  QUEUE_GROUPS,
  RATE_LIMIT_KEYS,
  RateLimitFeedbackSchema,
  SERVICE_NAMES,
  type AcquireReply,
} from "@toolformer/protocol";
import {
  decodeValidated,
  encodeInternal,
  KvCasStore,
  serveInternal,
  type ActorDefinition,
  type InternalEndpoint,
  whileStarting,
} from "@toolformer/runtime";
import { routeLines } from "./line-routing.ts";
import type { RateLimiterConfig } from "./config.ts";
import { applyFeedback, tryAcquire } from "./limiter.ts";
import { RecentScopes } from "./recent-scopes.ts";
import { LimiterMetrics } from "./limiter-metrics.ts";
import { WaitingRoom } from "./waiting-room.ts";
import { waitInSpan } from "./wait-span.ts";
import { WindowStore } from "./window-store.ts";

/** A line that could not reach the KV state tries again after this pause. */
const STATE_UNREACHABLE_RETRY_MS = 100;

/**
 * Grants permits to start calls under cluster-wide limits. Any number of copies share the KV state;
 * the calls for each tool or model go to the one copy that owns their line (docs/rate-limits.md), which
 * keeps them in fair waiting lines.
 */
export function rateLimiterActor(config: Pick<RateLimiterConfig, "rateLimits" | "agingMs">): ActorDefinition {
  return {
    name: "rate-limiter",
    serviceName: SERVICE_NAMES.rateLimiter,
    description: "Grants permits under cluster-wide rate limits kept in JetStream KV.",
    needs: { streams: [], buckets: ["rateLimits"] },
    async start(ctx) {
      const kv = ctx.kv.rateLimits;
      if (!kv) throw new Error("the rate-limit bucket was not provisioned");
      // Every caller reads the configured scopes from KV; copies share one file, so whichever writes last is right.
      await whileStarting(() => kv.put(RATE_LIMIT_KEYS.config, encodeInternal(config.rateLimits)));

      const kvOperations = new Counter({
        name: "toolformer_ratelimit_kv_operations_total",
        help: "KV operations on rate-limit state: get, write, conflict (a write another copy beat)",
        labelNames: ["operation"],
        registers: [ctx.metrics.registry],
      });
      const limiterMetrics = new LimiterMetrics(ctx.metrics.registry);
      const store = new WindowStore(
        await KvCasStore.open(ctx, kv, (operation) => kvOperations.inc({ operation })),
        (scope, state) => limiterMetrics.decided(scope, state, Date.now()),
      );
      const room = new WaitingRoom({
        tryAcquire: (batch) => tryAcquire(store, batch, Date.now),
        onCancel: (requestId, listener) => ctx.cancellations.onCancel(requestId, listener),
        now: Date.now,
        holdMs: ACQUIRE_HOLD_MS,
        agingMs: config.agingMs,
        retryMs: STATE_UNREACHABLE_RETRY_MS,
        onError: (error) => ctx.log.warn({ err: error }, "rate-limit state unreachable; the line will try again"),
      });
      new Gauge({
        name: "toolformer_ratelimit_waiting",
        help: "Calls waiting in this copy's lines",
        registers: [ctx.metrics.registry],
        collect() {
          this.set(room.waiting);
        },
      });

      // The scopes and waiting lines in this copy's service stats, for the dashboard and `toolformer status`.
      const recent = new RecentScopes();
      const acquire: InternalEndpoint<typeof AcquireRequestSchema> = {
        name: "acquire",
        subject: INTERNAL_SUBJECTS.rateLimitAcquire,
        queue: QUEUE_GROUPS.rateLimiter,
        schema: AcquireRequestSchema,
        handle: (request) => {
          recent.see(request.scopes, Date.now());
          return waitInSpan(
            request,
            () =>
              new Promise<AcquireReply>(
                (resolve) =>
                  void room.enter(request, (reply) => {
                    limiterMetrics.answered(request, reply, Date.now());
                    resolve(reply);
                  }),
              ),
          );
        },
        outcome: (reply) => {
          const answer = reply as AcquireReply;
          return answer.granted ? "granted" : answer.reason;
        },
      };
      serveInternal(ctx, acquire);
      const lines = routeLines(ctx, acquire);
      new Gauge({
        name: "toolformer_ratelimit_lines_owned",
        help: "Lines (tools and models, shared out by hash) this copy serves",
        registers: [ctx.metrics.registry],
        collect() {
          this.set(lines.owned.size);
        },
      });
      serveInternal(ctx, {
        name: "feedback",
        subject: INTERNAL_SUBJECTS.rateLimitFeedback,
        queue: QUEUE_GROUPS.rateLimiter,
        schema: RateLimitFeedbackSchema,
        handle: async (feedback) => {
          await applyFeedback(store, feedback, Date.now);
          return { ok: true };
        },
      });
      const promotions = ctx.nc.subscribe(INTERNAL_SUBJECTS.rateLimitPromote, {
        callback: (_error, msg) => {
          const decoded = decodeValidated(msg.data, msg.headers, PromoteCallSchema);
          if (!decoded.ok) return void ctx.log.warn({ error: decoded.error }, "ignoring a malformed promotion");
          room.promote(decoded.value.requestId, decoded.value.callId, decoded.value.priority);
        },
      });
      return {
        statsData: (subject) => (subject === acquire.subject ? recent.report(room.lines(), Date.now()) : undefined),
        // A waiting call's grant is due when its scope's window has room: a pause of the process then
        // starts it, and the windows after it, late.
        holdsTimedWork: () => room.waiting > 0,
        stop: async () => {
          promotions.unsubscribe();
          await lines.stop();
          await room.close();
        },
      };
    },
  };
}
