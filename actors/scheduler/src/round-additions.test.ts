import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INTERNAL_SUBJECTS, MESSAGE_IDS, type PlannedCall, type RoundAdd } from "@toolformer/protocol";
import { bind, createLogger, encodeInternal, internalHeaders, type ActorContext } from "@toolformer/runtime";
import { startNatsServer, type NatsServer } from "@toolformer/testing";
import { followAdditions, StoredLag, STORED_LAG_TRIES } from "./round-additions.ts";
import { roundSubmit } from "./round-submit.fixture.ts";

const log = createLogger("scheduler", "additions-test", "silent");
const call = (callId: string): PlannedCall => ({
  callId,
  tool: "t",
  args: {},
  toolInfo: { known: true, readOnly: true, idempotent: true },
});

let server: NatsServer;
/** A server that hears none of the adds: a subscription there stands for live copies that are lost. */
let elsewhere: NatsServer;
let scheduler: NatsConnection;
let dispatcher: NatsConnection;
let deaf: NatsConnection;
/** Publishes on the server that stores nothing: a ring whose add the test stores when it likes. */
let ringer: NatsConnection;
let ctx: ActorContext;

beforeAll(async () => {
  [server, elsewhere] = await Promise.all([startNatsServer(), startNatsServer()]);
  // Each side with its own role: the scheduler may hear the adds and read the rounds stream.
  scheduler = await server.connect("scheduler");
  dispatcher = await server.connect("dispatcher");
  deaf = await elsewhere.connect("scheduler");
  ringer = await elsewhere.connect("dispatcher");
  const { jsm } = await bind(scheduler, { streams: ["rounds"], buckets: [] });
  ctx = { nc: scheduler, jsm } as ActorContext;
});
afterAll(async () => {
  await Promise.all([scheduler?.close(), dispatcher?.close(), deaf?.close(), ringer?.close()]);
  await Promise.all([server?.stop(), elsewhere?.stop()]);
});

let requests = 0;
/** An open round of request `id`, and a way to store its adds as the dispatcher does. */
function openRound() {
  const submit = roundSubmit([call("c0")], {
    requestId: `adds-${++requests}`,
    open: true,
    deadline: Date.now() + 60_000,
  });
  const js = jetstream(dispatcher);
  const add = (callIds: string[], sealTotal?: number) => {
    const message: RoundAdd = {
      requestId: submit.requestId,
      round: submit.round,
      calls: callIds.map(call),
      ...(sealTotal === undefined ? {} : { sealTotal }),
    };
    const msgID =
      sealTotal === undefined
        ? MESSAGE_IDS.roundAdd(submit.requestId, submit.round, callIds)
        : MESSAGE_IDS.roundSeal(submit.requestId, submit.round);
    return js.publish(INTERNAL_SUBJECTS.roundAdd(submit.requestId, submit.round), encodeInternal(message), {
      msgID,
      headers: internalHeaders(submit),
    });
  };
  return { submit, add };
}

/** Follows the round, recording each add's call ids and whether it sealed. */
function follow(submit: ReturnType<typeof openRound>["submit"], context: ActorContext, pollMs: number) {
  const heard: string[][] = [];
  const follower = followAdditions(
    context,
    submit,
    log,
    async (added) => void heard.push([...added.calls.map((c) => c.callId), ...(added.sealTotal ? ["sealed"] : [])]),
    pollMs,
  );
  return { heard, follower };
}

describe("following an open round's additions", () => {
  it("hands on the adds stored before it started, then each one as its live copy rings, in order, each once", async () => {
    const { submit, add } = openRound();
    await add(["c1"]);
    // No poll within the test: what comes after the first read comes because it rang.
    const { heard, follower } = follow(submit, ctx, 600_000);
    await expect.poll(() => heard, { timeout: 10_000 }).toEqual([["c1"]]);
    await add(["c2", "c3"]);
    await add(["c2", "c3"]); // a publish tried again: stored once, heard twice
    await expect.poll(() => heard, { timeout: 10_000 }).toEqual([["c1"], ["c2", "c3"]]);
    await add(["c4"], 5);
    await expect.poll(() => heard, { timeout: 10_000 }).toEqual([["c1"], ["c2", "c3"], ["c4", "sealed"]]);
    await follower.close();
  });

  it("reads an add whose live copy never came at its next poll", async () => {
    const { submit, add } = openRound();
    const { heard, follower } = follow(submit, { ...ctx, nc: deaf }, 100);
    // Stored well after the first read, which found nothing: only a poll can find them.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await add(["c1"]);
    await add(["c2"], 3);
    await expect.poll(() => heard, { timeout: 10_000 }).toEqual([["c1"], ["c2", "sealed"]]);
    await follower.close();
  });

  it("reads again soon after each ring, however many rang with nothing new before", async () => {
    const { submit, add } = openRound();
    // No poll within the test, and rings the test sends: only a ring's re-reads can find the add.
    const { heard, follower } = follow(submit, { ...ctx, nc: deaf }, 600_000);
    await deaf.flush();
    const ring = () => ringer.publish(INTERNAL_SUBJECTS.roundAdd(submit.requestId, submit.round));
    ring(); // as a retried publish's second copy: nothing new; its re-reads (255 ms) are spent
    await new Promise((resolve) => setTimeout(resolve, 400));
    ring(); // an add heard before it is stored
    await new Promise((resolve) => setTimeout(resolve, 20));
    await add(["c1"], 2);
    await expect.poll(() => heard, { timeout: 5_000 }).toEqual([["c1", "sealed"]]);
    await follower.close();
  });

  it("stops at close while the round is still open", async () => {
    const { submit, add } = openRound();
    const { heard, follower } = follow(submit, ctx, 600_000);
    await follower.close();
    await add(["c1"]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(heard).toEqual([]);
  });
});

describe("StoredLag", () => {
  it("waits 1, 2, 4 ... ms between re-reads for a ring, and gives each new ring as many again", () => {
    const lag = new StoredLag();
    const spend = () => Array.from({ length: STORED_LAG_TRIES + 1 }, () => lag.nextDelayMs());
    expect(spend()).toEqual([1, 2, 4, 8, 16, 32, 64, 128, undefined]);
    lag.rang();
    expect(lag.nextDelayMs()).toBe(1);
  });
});
