import { describe, expect, it } from "vitest";
import { admit, release, START_JITTER_GUARD_MS as GUARD, type WindowState } from "./sliding-window.ts";

const empty: WindowState = { starts: [] };

describe("sliding window", () => {
  it("admits up to the limit inside one interval, then says when a place frees", () => {
    let state = empty;
    for (const at of [1000, 1100, 1200]) {
      const decision = admit(state, 3, 1000, at, `h${at}`);
      if (!decision.admitted) throw new Error("should admit");
      state = decision.next;
    }
    expect(admit(state, 3, 1000, 1500, "late")).toEqual({ admitted: false, retryAfterMs: 500 + GUARD });
    // The start at 1000 leaves the window once a full interval (plus the guard) has passed.
    expect(admit(state, 3, 1000, 2000, "edge").admitted).toBe(false);
    expect(admit(state, 3, 1000, 2000 + GUARD, "next").admitted).toBe(true);
  });

  it("never lets more than the limit start in any window, whatever the arrival pattern", () => {
    let state = empty;
    const admitted: number[] = [];
    for (let now = 0; now < 5000; now += 7) {
      const decision = admit(state, 4, 250, now, `h${now}`);
      if (decision.admitted) {
        state = decision.next;
        admitted.push(now);
      }
    }
    for (const start of admitted) {
      expect(admitted.filter((t) => t >= start && t < start + 250).length).toBeLessThanOrEqual(4);
    }
    expect(admitted.length).toBeGreaterThan(70); // and the capacity is used (at most 80 fit)
  });

  it("gives a place back to the window on release", () => {
    const decision = admit(empty, 1, 1000, 0, "a");
    if (!decision.admitted) throw new Error("should admit");
    expect(admit(decision.next, 1, 1000, 1, "b").admitted).toBe(false);
    expect(admit(release(decision.next, "a"), 1, 1000, 1, "b").admitted).toBe(true);
  });
});
