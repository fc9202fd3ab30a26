import { describe, expect, it } from "vitest";
import { errors, RequestError } from "@nats-io/transport-node";
import { DEFAULT_TRY_TIMEOUT, isUnanswered, tryTimeoutMs } from "./try-timeout.ts";

/** The JetStream client's own request timeout (`jetstream(nc)` without options). */
const CLIENT_TIMEOUT_MS = 5_000;

describe("how long a try of a write waits for its acknowledgement", () => {
  it("gives a lost first try less than the client's timeout, and doubles up to it while tries go unanswered", () => {
    expect([0, 1, 2, 3, 10].map((unanswered) => tryTimeoutMs(unanswered))).toEqual([2_000, 4_000, 5_000, 5_000, 5_000]);
    expect(DEFAULT_TRY_TIMEOUT.firstTimeoutMs).toBeLessThan(CLIENT_TIMEOUT_MS);
    expect(DEFAULT_TRY_TIMEOUT.maxTimeoutMs).toBe(CLIENT_TIMEOUT_MS);
    expect(tryTimeoutMs(2, { firstTimeoutMs: 100, maxTimeoutMs: 1_000 })).toBe(400);
  });

  it("takes only silence for a try unanswered, not an answer that refuses", () => {
    expect(isUnanswered(new errors.TimeoutError())).toBe(true);
    expect(isUnanswered(new RequestError("timeout", { cause: new errors.TimeoutError() }))).toBe(true);
    expect(isUnanswered(new errors.NoRespondersError("x"))).toBe(false);
    expect(isUnanswered(new Error("wrong last sequence: 4"))).toBe(false);
  });
});
