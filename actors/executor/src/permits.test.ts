import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AcquireReply } from "@toolformer/protocol";
import type { ConfiguredScopes, UpstreamBlocks } from "@toolformer/rate-limit-client";
import { execCall, scriptedLimiter, startNatsServer, type NatsServer } from "@toolformer/testing";
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

const call = execCall({ tool: "capped", deadline: Date.now() + 60_000 });
const log = { info: () => {}, warn: () => {}, child: () => log } as never;

/**
 * Asks for the permit of a call of a tool capped at one running, from a limiter that always answers
 * `reply`; resolves with how the wait ended and the feedback the limiter heard once `heard` held (or,
 * for feedback that must not come, 300 ms after).
 */
async function askRefused(
  reply: AcquireReply,
  heard: (feedback: readonly unknown[]) => boolean,
  stopAsking?: AbortSignal,
) {
  const limiter = await scriptedLimiter(nc, { kind: "tool", name: call.tool }, () => reply);
  try {
    const outcome = await acquirePermit(
      nc,
      { for: () => [] } as unknown as ConfiguredScopes,
      { noneKnownBlocked: () => false } as unknown as UpstreamBlocks,
      { tool: 1, leaseMs: 30_000 },
      call,
      new AbortController().signal,
      log,
      stopAsking,
    ).then(
      () => "granted",
      (error: unknown) => String(error),
    );
    await expect.poll(() => heard(limiter.feedback), { timeout: 2_000, interval: 20 }).toBe(true);
    return { outcome, feedback: limiter.feedback };
  } finally {
    limiter.stop();
  }
}

const refusal = (reason: "cancelled" | "again"): AcquireReply => ({
  granted: false,
  reason,
  retryAfterMs: 0,
  scope: "concurrency:tool:capped",
});

describe("a call that gets no permit", () => {
  it("gives back its concurrency places: a limiter may have granted them to a question it gave up on", async () => {
    const { outcome, feedback } = await askRefused(refusal("cancelled"), (feedback) => feedback.length > 0);
    expect(outcome).toMatch(/cancelled/);
    expect(feedback).toEqual([
      expect.objectContaining({
        op: "release",
        requestId: "r",
        callId: "c1",
        attempt: 1,
        scopes: [expect.objectContaining({ key: "concurrency:tool:capped", concurrent: true })],
      }),
    ]);
  });

  it("keeps them when its copy stops asking: the copy the call is handed to asks for the same places", async () => {
    const stopping = new AbortController();
    stopping.abort();
    const waited = Date.now();
    const { outcome, feedback } = await askRefused(refusal("again"), () => Date.now() - waited >= 300, stopping.signal);
    expect(outcome).toMatch(/stopping/);
    expect(feedback).toEqual([]);
  });
});
