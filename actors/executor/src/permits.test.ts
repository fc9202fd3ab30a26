import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AcquireReply, ExecCall } from "@toolformer/protocol";
import type { ConfiguredScopes, UpstreamBlocks } from "@toolformer/rate-limit-client";
import { scriptedLimiter, startNatsServer, type NatsServer } from "@toolformer/testing";
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
const log = { info: () => {}, warn: () => {}, child: () => log } as never;

/**
 * Asks for the permit of a call of a tool capped at one running, from a limiter that always answers
 * `reply`; resolves with how the wait ended and the feedback the limiter heard in the next 300 ms.
 */
async function askRefused(reply: AcquireReply, stopAsking?: AbortSignal) {
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
    await new Promise((resolve) => setTimeout(resolve, 300));
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
    const { outcome, feedback } = await askRefused(refusal("cancelled"));
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
    const { outcome, feedback } = await askRefused(refusal("again"), stopping.signal);
    expect(outcome).toMatch(/stopping/);
    expect(feedback).toEqual([]);
  });
});
