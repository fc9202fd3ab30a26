import { describe, expect, it } from "vitest";
import { RATE_LIMIT_START_GUARD_MS as GUARD } from "@toolformer/protocol";
import {
  admitSliding as admit,
  block,
  blockedFor,
  correct,
  release,
  restamp,
  type WindowState,
} from "./sliding-window.ts";

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

describe("weighted windows", () => {
  const take = (state: WindowState, at: number, holder: string, cost: number, limit = 100) => {
    const decision = admit(state, limit, 1000, at, holder, cost);
    if (!decision.admitted) throw new Error(`refused ${holder}`);
    return decision.next;
  };

  it("admits by cost and says when enough cost leaves the window", () => {
    let state = take({ starts: [] }, 0, "a", 60);
    state = take(state, 100, "b", 30);
    expect(admit(state, 100, 1000, 200, "c", 20)).toEqual({ admitted: false, retryAfterMs: 800 + GUARD }); // after "a" leaves
    expect(admit(state, 100, 1000, 200, "d", 10).admitted).toBe(true);
  });

  it("corrects an estimate to the real cost", () => {
    const state = correct(take({ starts: [] }, 0, "a", 90), "a", 20);
    expect(admit(state, 100, 1000, 10, "b", 70).admitted).toBe(true);
  });

  it("lets a cost above the whole limit through alone, in an empty window", () => {
    expect(admit({ starts: [] }, 100, 1000, 0, "big", 500).admitted).toBe(true);
    const busy = take({ starts: [] }, 0, "a", 1);
    expect(admit(busy, 100, 1000, 10, "big", 500).admitted).toBe(false);
  });
});

describe("block-only scopes", () => {
  it("are refused only while blocked", () => {
    expect(blockedFor({ starts: [] }, 0)).toBeUndefined();
    expect(blockedFor(block({ starts: [] }, 500), 100)).toBe(400);
    expect(blockedFor(block({ starts: [] }, 500), 500)).toBeUndefined();
  });
});

describe("late grants", () => {
  it("move their start to now without ever exceeding the limit", () => {
    let state: WindowState = { starts: [] };
    for (const [at, holder] of [
      [0, "a"],
      [10, "b"],
    ] as const) {
      const decision = admit(state, 2, 1000, at, holder);
      if (!decision.admitted) throw new Error("should admit");
      state = decision.next;
    }
    const moved = restamp(state, "a", 500);
    expect(moved.starts.map(([at, holder]) => [at, holder])).toEqual([
      [10, "b"],
      [500, "a"],
    ]);
    // "b" leaves first now; "a" holds its place until 500 + interval.
    expect(admit(moved, 2, 1000, 1020 + GUARD, "c").admitted).toBe(true);
    expect(admit(moved, 2, 1000, 1020 + GUARD, "c")).toMatchObject({ admitted: true });
    expect(admit({ ...moved, starts: [...moved.starts, [1020 + GUARD, "c"]] }, 2, 1000, 1100, "d").admitted).toBe(
      false,
    );
  });
});
