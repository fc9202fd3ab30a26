import type { Msg, MsgHdrs, Subscription } from "@nats-io/transport-node";
import { ServiceErrorCodeHeader, ServiceErrorHeader } from "@nats-io/services";
import { headers as natsHeaders } from "@nats-io/transport-node";
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

/** What answering needs from a request, whether it came through the service API or a plain subscription. */
interface Request {
  data: Uint8Array;
  headers?: MsgHdrs;
  respond(data: Uint8Array, opts: { headers: MsgHdrs }): boolean;
  respondError(code: number, description: string): boolean;
}

/**
 * A request/reply endpoint between actors, on the NATS service API: the body is validated, the handler's
 * answer goes back as MessagePack, a bad body gets a 400 and a failing handler a 500 (one-line service
 * error headers), and every outcome is counted. The request/reply twin of `runConsumer`.
 */
export function serveInternal<S extends z.ZodType>(ctx: ActorContext, endpoint: InternalEndpoint<S>): void {
  const answer = answerer(ctx, endpoint);
  ctx.service.addEndpoint(endpoint.name, {
    subject: endpoint.subject,
    queue: endpoint.queue,
    handler: (error, msg) => {
      if (error) return void ctx.log.error({ err: error, endpoint: endpoint.name }, "endpoint failed");
      answer(msg);
    },
  });
}

/**
 * The same endpoint on one more subject, as a plain subscription this copy can give up (drain) while
 * the service runs on: for work shared out among copies by subject.
 */
export function subscribeInternal<S extends z.ZodType>(
  ctx: ActorContext,
  endpoint: InternalEndpoint<S>,
  subject: string,
): Subscription {
  const answer = answerer(ctx, endpoint);
  return ctx.nc.subscribe(subject, {
    queue: endpoint.queue,
    callback: (error, msg) => {
      if (error) return void ctx.log.error({ err: error, endpoint: endpoint.name }, "subscription failed");
      answer(asRequest(msg));
    },
  });
}

function answerer<S extends z.ZodType>(ctx: ActorContext, endpoint: InternalEndpoint<S>): (msg: Request) => void {
  const replyHeaders = contentTypeHeaders(ContentType.msgpack);
  const count = (outcome: string) => ctx.metrics.messagesHandled.inc({ subject: endpoint.name, outcome });
  return (msg) => {
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
  };
}

/** A plain message answered the way the service API answers (errors in its headers). */
function asRequest(msg: Msg): Request {
  return {
    data: msg.data,
    headers: msg.headers,
    respond: (data, opts) => msg.respond(data, opts),
    respondError: (code, description) => {
      const headers = natsHeaders();
      headers.set(ServiceErrorCodeHeader, String(code));
      headers.set(ServiceErrorHeader, description);
      return msg.respond(new Uint8Array(), { headers });
    },
  };
}
