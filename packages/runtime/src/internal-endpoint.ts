import type { z } from "zod";
import { ContentType, ErrorCode, toErrorBody } from "@toolformer/protocol";
import type { ActorContext } from "./actor.ts";
import { contentTypeHeaders, decodeValidated, encodeInternal, headerSafe } from "./wire.ts";

export interface InternalEndpoint<S extends z.ZodType> {
  /** Endpoint name in the service API (and the metric's subject label). */
  name: string;
  subject: string;
  queue: string;
  schema: S;
  handle(message: z.output<S>): Promise<unknown>;
  /** The metric outcome of a reply (default "ok"). */
  outcome?(reply: unknown): string;
}

/**
 * A request/reply endpoint between actors, on the NATS service API: the body is validated, the handler's
 * answer goes back as MessagePack, a bad body gets a 400 and a failing handler a 500 (one-line service
 * error headers), and every outcome is counted. The request/reply twin of `runConsumer`.
 */
export function serveInternal<S extends z.ZodType>(ctx: ActorContext, endpoint: InternalEndpoint<S>): void {
  const replyHeaders = contentTypeHeaders(ContentType.msgpack);
  const count = (outcome: string) => ctx.metrics.messagesHandled.inc({ subject: endpoint.name, outcome });
  ctx.service.addEndpoint(endpoint.name, {
    subject: endpoint.subject,
    queue: endpoint.queue,
    handler: (error, msg) => {
      if (error) return void ctx.log.error({ err: error, endpoint: endpoint.name }, "endpoint failed");
      const decoded = decodeValidated(msg.data, msg.headers, endpoint.schema);
      if (!decoded.ok) {
        msg.respondError(400, headerSafe(decoded.error.message));
        return count("rejected");
      }
      endpoint.handle(decoded.value).then(
        (reply) => {
          msg.respond(encodeInternal(reply), { headers: replyHeaders });
          count(endpoint.outcome?.(reply) ?? "ok");
        },
        (failure: unknown) => {
          ctx.log.error({ err: failure, endpoint: endpoint.name }, "handler failed");
          msg.respondError(500, headerSafe(toErrorBody(failure, ErrorCode.INTERNAL).message));
          count("failed");
        },
      );
    },
  });
}
