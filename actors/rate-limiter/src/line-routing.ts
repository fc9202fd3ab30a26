import type { Subscription } from "@nats-io/transport-node";
import {
  ContentType,
  INTERNAL_SUBJECTS,
  LimiterPresenceSchema,
  RATE_LIMIT_LINES,
  type LimiterPresence,
} from "@toolformer/protocol";
import {
  contentTypeHeaders,
  decodeValidated,
  encodeInternal,
  subscribeInternal,
  type ActorContext,
  type InternalEndpoint,
} from "@toolformer/runtime";
import type { z } from "zod";
import { LineOwners } from "./line-owners.ts";

/** How often a copy says it is alive; one not heard from for EXPIRY_MS is taken for dead. */
const PRESENCE_INTERVAL_MS = 1_000;
const EXPIRY_MS = 3_500;

export interface LineRouting {
  /** Lines this copy serves now. */
  readonly owned: ReadonlySet<number>;
  /** Says goodbye and gives up every line (the other copies take them over at once). */
  stop(): Promise<void>;
}

/**
 * Serves `endpoint` on the lines this copy owns, and keeps that share right as copies come and go:
 * each announces itself every second, answers a newcomer at once, and says when it leaves.
 */
export function routeLines<S extends z.ZodType>(ctx: ActorContext, endpoint: InternalEndpoint<S>): LineRouting {
  const owners = new LineOwners(ctx.actorId, RATE_LIMIT_LINES, EXPIRY_MS);
  const serving = new Map<number, Subscription>();
  const headers = contentTypeHeaders(ContentType.msgpack);
  const announce = (leaving = false) => {
    const presence: LimiterPresence = { limiterId: ctx.actorId, leaving };
    ctx.nc.publish(INTERNAL_SUBJECTS.rateLimitPresence, encodeInternal(presence), { headers });
  };
  const rebalance = () => {
    const owned = owners.owned();
    for (const line of owned)
      if (!serving.has(line))
        serving.set(line, subscribeInternal(ctx, endpoint, INTERNAL_SUBJECTS.rateLimitLine(line)));
    for (const [line, subscription] of serving) {
      if (owned.has(line)) continue;
      serving.delete(line);
      // Draining answers what was already routed here; the new owner gets the rest.
      subscription.drain().catch((error: unknown) => ctx.log.warn({ err: error, line }, "could not give up a line"));
    }
  };

  const presence = ctx.nc.subscribe(INTERNAL_SUBJECTS.rateLimitPresence, {
    callback: (error, msg) => {
      if (error) return void ctx.log.error({ err: error }, "presence subscription failed");
      const decoded = decodeValidated(msg.data, msg.headers, LimiterPresenceSchema);
      if (!decoded.ok) return void ctx.log.warn({ error: decoded.error }, "ignoring a malformed limiter presence");
      const { limiterId, leaving } = decoded.value;
      if (leaving) owners.left(limiterId);
      else if (owners.heard(limiterId, Date.now())) announce();
      rebalance();
    },
  });
  const heartbeat = setInterval(() => {
    announce();
    owners.expire(Date.now());
    rebalance();
  }, PRESENCE_INTERVAL_MS);
  announce();
  rebalance();

  return {
    get owned() {
      return new Set(serving.keys());
    },
    async stop() {
      clearInterval(heartbeat);
      presence.unsubscribe();
      announce(true);
      await Promise.allSettled([...serving.values()].map((subscription) => subscription.drain()));
      serving.clear();
    },
  };
}
