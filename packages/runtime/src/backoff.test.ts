import { describe, expect, it } from "vitest";
import { errors } from "@nats-io/transport-node";
import { backoffDelayMs, isTransient, untilStored } from "./backoff.ts";

/** What a JetStream publish throws while no stream leader answers. */
class JetStreamNotEnabled extends Error {
  override name = "JetStreamNotEnabled";
}

describe("backoff", () => {
  it("doubles its ceiling from the first delay up to the cap, with full jitter", () => {
    const policy = { firstDelayMs: 50, maxDelayMs: 1_000 };
    expect([1, 2, 3, 4, 5, 6].map((attempt) => backoffDelayMs(attempt, policy, 0.999_999))).toEqual([
      50, 100, 200, 400, 800, 1_000,
    ]);
    expect(backoffDelayMs(3, policy, 0.5)).toBe(100);
    expect(backoffDelayMs(3, policy, 0)).toBe(1);
  });

  it("tells transient failures (no responders, time-outs) from refusals", () => {
    expect(isTransient(new JetStreamNotEnabled("jetstream is not enabled"))).toBe(true);
    expect(isTransient(new errors.TimeoutError())).toBe(true);
    expect(isTransient(new Error("wrong last sequence: 7"))).toBe(false);
    expect(isTransient(new errors.ClosedConnectionError())).toBe(false);
  });

  it("tries a transient failure again until it succeeds, and gives up at the deadline", async () => {
    let tries = 0;
    const stored = await untilStored(
      async () => {
        if (++tries < 3) throw new JetStreamNotEnabled("jetstream is not enabled");
        return "stored";
      },
      { giveUpAt: Date.now() + 5_000, policy: { firstDelayMs: 1, maxDelayMs: 5 } },
    );
    expect([stored, tries]).toEqual(["stored", 3]);

    let refused = 0;
    await expect(
      untilStored(
        async () => {
          refused++;
          throw new Error("wrong last sequence");
        },
        { giveUpAt: Date.now() + 5_000 },
      ),
    ).rejects.toThrow(/wrong last sequence/);
    expect(refused).toBe(1);

    await expect(
      untilStored(
        async () => {
          throw new errors.TimeoutError();
        },
        { giveUpAt: Date.now() + 60, policy: { firstDelayMs: 5, maxDelayMs: 10 } },
      ),
    ).rejects.toThrow();
  });
});
