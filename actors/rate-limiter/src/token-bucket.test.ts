import { describe, expect, it } from "vitest";
import { RATE_LIMIT_START_GUARD_MS as GUARD } from "@toolformer/protocol";
import { admitBucket, shiftBucket } from "./token-bucket.ts";
import { type WindowState } from "./sliding-window.ts";

const bucket = { limit: 10, intervalMs: 1000, burst: 3 };
const emission = (1000 + GUARD) / 10;

function run(arrivals: number[]): number[] {
  let state: WindowState = { starts: [] };
  const admitted: number[] = [];
  for (const at of arrivals) {
    const decision = admitBucket(state, bucket, at, `h${at}`);
    if (!decision.admitted) continue;
    state = decision.next;
    admitted.push(at);
  }
  return admitted;
}

describe("token bucket (GCRA)", () => {
  it("lets a burst through at once, then refills one emission interval at a time", () => {
    let state: WindowState = { starts: [] };
    for (const holder of ["a", "b", "c"]) {
      const decision = admitBucket(state, bucket, 0, holder);
      if (!decision.admitted) throw new Error(`refused ${holder}`);
      state = decision.next;
    }
    const refused = admitBucket(state, bucket, 0, "d");
    expect(refused).toEqual({ admitted: false, retryAfterMs: Math.ceil(emission) });
    expect(admitBucket(state, bucket, emission, "d").admitted).toBe(true);
  });

  it("never admits more than limit + burst in any window, and sustains the limit", () => {
    const admitted = run(Array.from({ length: 5000 }, (_, i) => i * 2)); // an arrival every 2 ms for 10 s
    for (const start of admitted) {
      const inWindow = admitted.filter((t) => t >= start && t < start + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(bucket.limit + bucket.burst);
    }
    expect(admitted.length).toBeGreaterThanOrEqual(3 + 97); // the burst, then ~10 a second for 10 s
  });

  it("gives a released admission back to the bucket", () => {
    let state: WindowState = { starts: [] };
    for (const holder of ["a", "b", "c"]) {
      const decision = admitBucket(state, bucket, 0, holder);
      if (decision.admitted) state = decision.next;
    }
    expect(admitBucket(shiftBucket(state, bucket, -1, 0), bucket, 0, "d").admitted).toBe(true);
  });
});
