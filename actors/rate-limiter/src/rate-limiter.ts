import {
  AcquireRequestSchema,
  ContentType,
  ErrorCode,
  INTERNAL_SUBJECTS,
  QUEUE_GROUPS,
  RateLimitFeedbackSchema,
  SERVICE_NAMES,
  toErrorBody,
} from "@toolformer/protocol";
import {
  contentTypeHeaders,
  decodeValidated,
  encodeInternal,
  headerSafe,
  type ActorDefinition,
} from "@toolformer/runtime";
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
      const reply = contentTypeHeaders(ContentType.msgpack);
      ctx.service.addEndpoint("acquire", {
        subject: INTERNAL_SUBJECTS.rateLimitAcquire,
        queue: QUEUE_GROUPS.rateLimiter,
        handler: (error, msg) => {
          if (error) return void ctx.log.error({ err: error }, "acquire endpoint failed");
          const decoded = decodeValidated(msg.data, msg.headers, AcquireRequestSchema);
          if (!decoded.ok) {
            msg.respondError(400, headerSafe(decoded.error.message));
            ctx.metrics.messagesHandled.inc({ subject: "acquire", outcome: "rejected" });
            return;
          }
          acquire(store, decoded.value, Date.now).then(
            (answer) => {
              msg.respond(encodeInternal(answer), { headers: reply });
              ctx.metrics.messagesHandled.inc({ subject: "acquire", outcome: answer.granted ? "granted" : "refused" });
            },
            (failure: unknown) => {
              ctx.log.error({ err: failure, requestId: decoded.value.requestId }, "acquire failed");
              msg.respondError(500, headerSafe(toErrorBody(failure, ErrorCode.INTERNAL).message));
            },
          );
        },
      });
      ctx.service.addEndpoint("feedback", {
        subject: INTERNAL_SUBJECTS.rateLimitFeedback,
        queue: QUEUE_GROUPS.rateLimiter,
        handler: (error, msg) => {
          if (error) return void ctx.log.error({ err: error }, "feedback endpoint failed");
          const decoded = decodeValidated(msg.data, msg.headers, RateLimitFeedbackSchema);
          if (!decoded.ok) return void msg.respondError(400, headerSafe(decoded.error.message));
          applyFeedback(store, decoded.value).then(
            () => msg.respond(encodeInternal({ ok: true }), { headers: reply }),
            (failure: unknown) => msg.respondError(500, headerSafe(toErrorBody(failure, ErrorCode.INTERNAL).message)),
          );
        },
      });
      return { stop: async () => {} };
    },
  };
}
