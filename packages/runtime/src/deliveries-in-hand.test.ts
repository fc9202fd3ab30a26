import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { DeliveriesInHand } from "./deliveries-in-hand.ts";

describe("deliveries in hand", () => {
  it("shows each durable's count on the gauge and keeps the process's total", async () => {
    const registry = new Registry();
    const inHand = new DeliveriesInHand(registry);
    const gauge = async () =>
      Object.fromEntries(
        (await registry.getSingleMetric("toolformer_deliveries_in_hand")!.get()).values.map((v) => [
          v.labels.subject,
          v.value,
        ]),
      );
    const calls = [inHand.take("exec_echo"), inHand.take("exec_echo")];
    const round = inHand.take("scheduler");
    expect(inHand.total).toBe(3);
    expect(await gauge()).toEqual({ exec_echo: 2, scheduler: 1 });
    calls[0]!();
    round();
    expect(inHand.total).toBe(1);
    expect(await gauge()).toEqual({ exec_echo: 1, scheduler: 0 });
  });
});
