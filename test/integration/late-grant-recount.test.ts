import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AcquireReply } from "@toolformer/protocol";
import { acquirePermits } from "@toolformer/rate-limit-client";
import { permitRequest, scriptedLimiter, startNatsServer, type NatsServer } from "@toolformer/testing";

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

const request = (callId: string, intervalMs: number) =>
  permitRequest({ requestId: "recount", callId, scopes: [{ key: "tool:load", limit: 40, intervalMs }] });

/**
 * A grant counted 300 ms before it reaches the caller (late, so the call starts at once and has its
 * start counted again), from the only limiter, which leaves as it answers: the lines are being shared
 * out again when the recount is sent.
 */
async function grantLateAndLeave(callId: string, intervalMs: number): Promise<void> {
  const late: AcquireReply = { granted: true, heldMs: 0, countedAgoMs: 300 };
  const leaving = await scriptedLimiter(nc, request(callId, intervalMs).target, () => {
    leaving.stop();
    return late;
  });
  const { started } = await acquirePermits(nc, request(callId, intervalMs), new AbortController().signal);
  started();
  expect(leaving.asked.map((asked) => asked.confirm)).toEqual([false]);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("a grant that reached its caller late", () => {
  it("is counted again once its call has started, not as the grant arrives", async () => {
    const limiter = await scriptedLimiter(nc, request("c0", 1_000).target, (asked) =>
      asked.confirm ? { granted: true, heldMs: 0 } : { granted: true, heldMs: 0, countedAgoMs: 3 },
    );
    try {
      const { started } = await acquirePermits(nc, request("c0", 1_000), new AbortController().signal);
      // On time when it arrived (3 ms), but the caller is busy for 80 ms before the call goes out:
      // nothing is counted again meanwhile, and the start is, once it happens.
      await sleep(80);
      expect(limiter.asked).toHaveLength(1);
      const startedAt = Date.now();
      started();
      await expect.poll(() => limiter.asked.length, { timeout: 2_000, interval: 10 }).toBe(2);
      expect(limiter.asked[1]).toMatchObject({ callId: "c0", confirm: true });
      expect(limiter.asked[1]!.at).toBeGreaterThanOrEqual(startedAt);
      // Told once, however often the caller says it started.
      started();
      await sleep(200);
      expect(limiter.asked).toHaveLength(2);
    } finally {
      limiter.stop();
    }
  });

  it("is counted again once a limiter can hear it, though none could when the call started", async () => {
    await grantLateAndLeave("c1", 2_000);
    // A limiter comes back 400 ms later, well within the window the first count is in.
    await sleep(400);
    const back = await scriptedLimiter(nc, request("c1", 2_000).target, () => ({ granted: true, heldMs: 0 }));
    try {
      await expect.poll(() => back.asked.length, { timeout: 2_000, interval: 20 }).toBeGreaterThan(0);
      expect(back.asked[0]).toMatchObject({ callId: "c1", confirm: true });
      // Heard once: a recount a limiter answered is not sent again.
      await sleep(500);
      expect(back.asked).toHaveLength(1);
    } finally {
      back.stop();
    }
  });

  it("stops asking to be counted again once the first count has left the window", async () => {
    await grantLateAndLeave("c2", 800);
    // None comes back before the first count leaves its 800 ms window.
    await sleep(700);
    const after = await scriptedLimiter(nc, request("c2", 800).target, () => ({ granted: true, heldMs: 0 }));
    try {
      await sleep(600);
      expect(after.asked).toHaveLength(0);
    } finally {
      after.stop();
    }
  });
});
