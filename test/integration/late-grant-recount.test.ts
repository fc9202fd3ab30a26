import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AcquireRequestSchema,
  ContentType,
  INTERNAL_SUBJECTS,
  rateLimitLineOf,
  type AcquireReply,
  type AcquireRequest,
} from "@toolformer/protocol";
import { acquirePermits } from "@toolformer/rate-limit-client";
import { contentTypeHeaders, decodeValidated, encodeInternal } from "@toolformer/runtime";
import { permitRequest, startNatsServer, type NatsServer } from "@toolformer/testing";

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

const request = permitRequest({
  requestId: "recount",
  callId: "c1",
  scopes: [{ key: "tool:load", limit: 40, intervalMs: 2_000 }],
});

/**
 * A limiter as the caller sees one: it answers on the call's line (and, like a copy while the lines
 * are shared out again, on the subject any copy serves) and notes every question.
 */
function limiter(answer: (asked: AcquireRequest) => AcquireReply) {
  const asked: (AcquireRequest & { at: number })[] = [];
  const onAsk = (_error: Error | null, msg: Msg) => {
    const decoded = decodeValidated(msg.data, msg.headers, AcquireRequestSchema);
    if (!decoded.ok) throw new Error("the caller sent a malformed acquire");
    asked.push({ ...decoded.value, at: Date.now() });
    msg.respond(encodeInternal(answer(decoded.value)), { headers: contentTypeHeaders(ContentType.msgpack) });
  };
  const subscriptions: Subscription[] = [
    nc.subscribe(INTERNAL_SUBJECTS.rateLimitLine(rateLimitLineOf(request.target)), { callback: onAsk }),
    nc.subscribe(INTERNAL_SUBJECTS.rateLimitAcquire, { callback: onAsk }),
  ];
  return {
    asked,
    stop: () => subscriptions.forEach((subscription) => subscription.unsubscribe()),
    flushed: () => nc.flush(),
  };
}

describe("a grant that reached its caller late", () => {
  it("is counted again once a limiter can hear it, though none could when the call started", async () => {
    // The only limiter grants the call 300 ms after it counted its start (late, so the call starts at
    // once and has that start counted again), and is gone before the recount is sent: the lines are
    // being shared out again.
    let first: ReturnType<typeof limiter> | undefined = undefined;
    first = limiter(() => {
      first?.stop();
      return { granted: true, heldMs: 0, countedAgoMs: 300 };
    });
    await first.flushed();
    await acquirePermits(nc, request, new AbortController().signal);
    expect(first.asked.map((asked) => asked.confirm)).toEqual([false]);

    // A limiter comes back 400 ms later, well within the window the first count is in.
    await new Promise((resolve) => setTimeout(resolve, 400));
    const second = limiter(() => ({ granted: true, heldMs: 0 }));
    try {
      await expect.poll(() => second.asked.length, { timeout: 2_000, interval: 20 }).toBeGreaterThan(0);
      expect(second.asked[0]).toMatchObject({ callId: "c1", confirm: true });
      // Heard once: a recount a limiter answered is not sent again.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(second.asked).toHaveLength(1);
    } finally {
      second.stop();
    }
  });

  it("stops asking to be counted again once the first count has left the window", async () => {
    const scopes = [{ key: "tool:load", limit: 40, intervalMs: 800 }];
    // Granted by a limiter that leaves at once; none comes back before the first count leaves 800 ms.
    let once: ReturnType<typeof limiter> | undefined = undefined;
    once = limiter(() => {
      once?.stop();
      return { granted: true, heldMs: 0, countedAgoMs: 300 };
    });
    await once.flushed();
    await acquirePermits(nc, { ...request, callId: "c2", scopes }, new AbortController().signal);
    await new Promise((resolve) => setTimeout(resolve, 700));
    const after = limiter(() => ({ granted: true, heldMs: 0 }));
    try {
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(after.asked).toHaveLength(0);
    } finally {
      after.stop();
    }
  });
});
