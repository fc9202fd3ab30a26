import { describe, expect, it } from "vitest";
import { utilizationOf } from "./utilization.ts";

describe("utilization of a rate limit", () => {
  it("is 1 for the fastest schedule a sliding window allows, and falls as the run stretches", () => {
    const wave = (at: number) => Array.from({ length: 50 }, () => at);
    const fastest = utilizationOf([...wave(0), ...wave(1_000), ...wave(2_000)], 50, 1_000);
    expect(fastest).toMatchObject({ spanMs: 2_000, idealSpanMs: 2_000, utilization: 1, firstWindowMs: 0 });
    expect(fastest.maxInWindow).toBe(50);
    const slow = utilizationOf([...wave(0), ...wave(1_000), ...wave(4_000)], 50, 1_000);
    expect(slow.utilization).toBe(0.5);
    expect(slow.windowLatenessMs).toEqual([0, 2_000]);
  });

  it("tells how long the first window's calls took to come, what each later window lost, and counts starts over the limit", () => {
    const first = Array.from({ length: 50 }, (_, i) => i * 4); // over 196 ms
    const second = Array.from({ length: 50 }, (_, i) => 1_000 + i * 4);
    const run = utilizationOf([...second, ...first], 50, 1_000);
    expect(run.firstWindowMs).toBe(196);
    expect(run.windowLatenessMs).toEqual([0]);
    expect(run.maxInWindow).toBe(50);
    // A call of the second window 30 ms early: over the limit in 1000 ms, not in 950 ms.
    const early = utilizationOf([...first, 970, ...second.slice(1)], 50, 1_000);
    expect(early.maxInWindow).toBe(51);
    expect(early.maxInWindowLessSlack).toBe(50);
    // The second window's calls 15 ms past their counterparts' interval, its last 20 calls 40 ms more.
    const lagging = second.map((start, k) => start + 15 + (k >= 30 ? 40 : 0));
    expect(utilizationOf([...first, ...lagging], 50, 1_000).windowLatenessMs).toEqual([15]);
  });
});
