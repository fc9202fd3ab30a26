import {
  AcquireRequestSchema,
  INTERNAL_SUBJECTS,
  QUEUE_GROUPS,
  RateLimitFeedbackSchema,
  SERVICE_NAMES,
  type AcquireReply,
} from "@toolformer/protocol";
import { serveInternal, type ActorDefinition } from "@toolformer/runtime";
import { acquire, applyFeedback } from "./limiter.ts";
import { WindowStore } from "./window-store.ts";

/** Grants permits to start calls under cluster-wide limits; any number of copies share the KV state. */
export function rateLimiterActor(): ActorDefinition {
  return {
    name: "rate-limiter",
    serviceName: SERVICE_NAMES.rateLimiter,
    description: "Grants permits under cluster-wide rate limits kept in JetStream KV.",
    needs: { streams: [], buckets: ["rateLimits"] },
    async start(ctx) {
      const kv = ctx.kv.rateLimits;
      if (!kv) throw new Error("the rate-limit bucket was not provisioned");
      const store = new WindowStore(kv);
      serveInternal(ctx, {
        name: "acquire",
        subject: INTERNAL_SUBJECTS.rateLimitAcquire,
        queue: QUEUE_GROUPS.rateLimiter,
        schema: AcquireRequestSchema,
        handle: (request) => acquire(store, request, Date.now),
        outcome: (reply) => ((reply as AcquireReply).granted ? "granted" : "refused"),
      });
      serveInternal(ctx, {
        name: "feedback",
        subject: INTERNAL_SUBJECTS.rateLimitFeedback,
        queue: QUEUE_GROUPS.rateLimiter,
        schema: RateLimitFeedbackSchema,
        handle: async (feedback) => {
          await applyFeedback(store, feedback);
          return { ok: true };
        },
      });
      return { stop: async () => {} };
    },
  };
}
