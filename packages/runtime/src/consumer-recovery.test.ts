import { describe, expect, it } from "vitest";
import type { JsMsg } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { Header } from "@toolformer/protocol";
import { RESTART_AFTER_MISSED_HEARTBEATS, restartReason } from "./consumer-recovery.ts";
import { deliveriesOf } from "./hand-back.ts";
import { Semaphore } from "./semaphore.ts";

describe("restartReason", () => {
  it("starts afresh when the server lost the consumer or its stream", () => {
    expect(restartReason({ type: "consumer_deleted", code: 409, description: "consumer deleted" })).toMatch(/deleted/);
    expect(restartReason({ type: "consumer_not_found", name: "d", stream: "S", count: 1 })).toMatch(/no longer/);
    expect(restartReason({ type: "stream_not_found", name: "S" })).toMatch(/stream/);
  });

  it("leaves a few missed heartbeats to the client, and starts afresh when they go on", () => {
    expect(restartReason({ type: "heartbeats_missed", count: 2 })).toBeUndefined();
    expect(restartReason({ type: "heartbeats_missed", count: RESTART_AFTER_MISSED_HEARTBEATS })).toMatch(/heartbeat/);
  });

  it("ignores what the client handles itself", () => {
    expect(restartReason({ type: "heartbeat", lastConsumerSequence: 1, lastStreamSequence: 1 })).toBeUndefined();
    expect(restartReason({ type: "no_responders", code: 503 })).toBeUndefined();
    expect(restartReason({ type: "discard", messagesLeft: 1, bytesLeft: 0 })).toBeUndefined();
  });
});

describe("deliveriesOf", () => {
  const message = (deliveryCount: number, before?: string) => {
    const h = headers();
    if (before !== undefined) h.set(Header.deliveredBefore, before);
    return { headers: h, info: { deliveryCount } } as unknown as JsMsg;
  };

  it("counts the deliveries of the copies a hand-back made, this one included", () => {
    expect(deliveriesOf(message(1))).toBe(1);
    expect(deliveriesOf(message(2))).toBe(2);
    expect(deliveriesOf(message(1, "3"))).toBe(4);
  });

  it("ignores a count that is not one", () => {
    expect(deliveriesOf(message(1, "many"))).toBe(1);
    expect(deliveriesOf(message(1, "-2"))).toBe(1);
  });
});

describe("Semaphore", () => {
  it("gives up a wait when the signal fires, without losing the permit", async () => {
    const slots = new Semaphore(1);
    expect(await slots.acquire()).toBe(true);
    const stopping = new AbortController();
    const waiting = slots.acquire(stopping.signal);
    stopping.abort();
    expect(await waiting).toBe(false);
    expect(await slots.acquire(stopping.signal)).toBe(false);
    slots.release();
    expect(await slots.acquire()).toBe(true);
  });

  it("serves waiters in arrival order", async () => {
    const slots = new Semaphore(1);
    await slots.acquire();
    const order: number[] = [];
    const first = slots.acquire().then(() => order.push(1));
    const second = slots.acquire().then(() => order.push(2));
    slots.release();
    slots.release();
    await Promise.all([first, second]);
    expect(order).toEqual([1, 2]);
  });
});
