import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ContentType,
  INTERNAL_SUBJECTS,
  RateLimitFeedbackSchema,
  rateLimitLineOf,
  type AcquireReply,
  type ExecCall,
  type RateLimitFeedback,
} from "@toolformer/protocol";
import type { ConfiguredScopes, UpstreamBlocks } from "@toolformer/rate-limit-client";
import { contentTypeHeaders, decodeValidated, encodeInternal } from "@toolformer/runtime";
import { startNatsServer, type NatsServer } from "@toolformer/testing";
import { acquirePermit } from "./permits.ts";

let nats: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await nats.connect("admin");
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

const call: ExecCall = {
  requestId: "r",
  callId: "c1",
  deadline: Date.now() + 60_000,
  traceparent: "",
  attempt: 1,
  round: 1,
  tool: "capped",
  args: {},
  priority: 5,
  tenant: "default",
  speculative: false,
  extraScopes: [],
};
const noConfiguredScopes = { for: () => [] } as unknown as ConfiguredScopes;
const blocksUnknown = { noneKnownBlocked: () => false } as unknown as UpstreamBlocks;
const log = { info: () => {}, warn: () => {}, child: () => log } as never;

/** A limiter that answers every acquire with `reply` and notes the feedback it hears. */
function limiter(reply: AcquireReply) {
  const feedback: RateLimitFeedback[] = [];
  const respond = (msg: Msg, value: unknown) => {
    msg.respond(encodeInternal(value), { headers: contentTypeHeaders(ContentType.msgpack) });
  };
  const subscriptions: Subscription[] = [
    nc.subscribe(INTERNAL_SUBJECTS.rateLimitLine(rateLimitLineOf({ kind: "tool", name: call.tool })), {
      callback: (_error, msg) => respond(msg, reply),
    }),
    nc.subscribe(INTERNAL_SUBJECTS.rateLimitFeedback, {
      callback: (_error, msg) => {
        const decoded = decodeValidated(msg.data, msg.headers, RateLimitFeedbackSchema);
        if (decoded.ok) feedback.push(decoded.value);
        respond(msg, { ok: true });
      },
    }),
  ];
  return { feedback, stop: () => subscriptions.forEach((subscription) => subscription.unsubscribe()) };
}

const caps = { tool: 1, leaseMs: 30_000 };

describe("a call that gets no permit", () => {
  it("gives back its concurrency places: a limiter may have granted them to a question it gave up on", async () => {
    const limit = limiter({ granted: false, reason: "cancelled", retryAfterMs: 0, scope: "concurrency:tool:capped" });
    try {
      await nc.flush();
      const permit = acquirePermit(
        nc,
        noConfiguredScopes,
        blocksUnknown,
        caps,
        call,
        new AbortController().signal,
        log,
      );
      await expect(permit).rejects.toMatchObject({ code: "CANCELLED" });
      await expect.poll(() => limit.feedback, { timeout: 2_000, interval: 20 }).toHaveLength(1);
      expect(limit.feedback[0]).toMatchObject({
        op: "release",
        requestId: "r",
        callId: "c1",
        attempt: 1,
        scopes: [{ key: "concurrency:tool:capped", concurrent: true }],
      });
    } finally {
      limit.stop();
    }
  });

  it("keeps them when its copy stops asking: the copy the call is handed to asks for the same places", async () => {
    const limit = limiter({ granted: false, reason: "again", retryAfterMs: 0, scope: "concurrency:tool:capped" });
    try {
      await nc.flush();
      const stopping = new AbortController();
      stopping.abort();
      const permit = acquirePermit(
        nc,
        noConfiguredScopes,
        blocksUnknown,
        caps,
        call,
        new AbortController().signal,
        log,
        stopping.signal,
      );
      await expect(permit).rejects.toThrow(/stopping/);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(limit.feedback).toHaveLength(0);
    } finally {
      limit.stop();
    }
  });
});
