import { describe, expect, it } from "vitest";
import { JetStreamError, type JsMsg } from "@nats-io/jetstream";
import { errors, headers } from "@nats-io/transport-node";
import { Header } from "@toolformer/protocol";
import { afterPullFailure } from "./consumer-recovery.ts";
import { deliveriesOf } from "./hand-back.ts";
import { Semaphore } from "./semaphore.ts";

describe("afterPullFailure", () => {
  it("pulls again when the server lost the consumer or its stream, or stopped answering", () => {
    expect(afterPullFailure(new JetStreamError("consumer deleted"))).toEqual({
      stop: false,
      reason: "the server lost the consumer",
    });
    expect(afterPullFailure(new Error("consumer not found")).reason).toMatch(/lost the consumer/);
    expect(afterPullFailure(new Error("stream not found")).reason).toMatch(/lost the stream/);
    expect(afterPullFailure(new JetStreamError("heartbeats missed")).reason).toMatch(/stopped answering/);
    expect(afterPullFailure(new Error("no responders")).stop).toBe(false);
  });

  it("stops once the connection is closed for good", () => {
    expect(afterPullFailure(new errors.ClosedConnectionError()).stop).toBe(true);
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
