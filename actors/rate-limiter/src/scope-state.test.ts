import { describe, expect, it } from "vitest";
import {
  CONCURRENCY_LEASE_MS,
  CONCURRENCY_RECHECK_MS,
  concurrencyScope,
  type RateLimitScope,
} from "@toolformer/protocol";
import { admitScope, correctScope, releaseScope, renewScope, usedShare } from "./scope-state.ts";
import { block, type WindowState } from "./sliding-window.ts";

const window: RateLimitScope = { key: "tool:search", limit: 2, intervalMs: 1000 };
const bucket: RateLimitScope = { key: "config:global", limit: 2, intervalMs: 1000, burst: 1 };
const lane = concurrencyScope("concurrency:tool:x", 1);

function take(state: WindowState, scope: RateLimitScope, now: number, holder: string): WindowState {
  const decision = admitScope(state, scope, now, holder);
  if (!decision.admitted || !decision.next) throw new Error(`refused ${holder}`);
  return decision.next;
}

describe("scope admission", () => {
  it("admits nothing while an upstream's 429 block lasts, whatever the algorithm", () => {
    for (const scope of [window, bucket, { ...window, blockOnly: true }]) {
      const blocked = block(block({ starts: [] }, 500), 300);
      expect(admitScope(blocked, scope, 100, "a")).toEqual({ admitted: false, retryAfterMs: 400 });
      expect(admitScope(blocked, scope, 500, "a").admitted).toBe(true);
    }
  });

  it("records nothing for a block-only scope", () => {
    expect(admitScope({ starts: [] }, { ...window, blockOnly: true }, 0, "a")).toEqual({ admitted: true });
  });

  it("grants a holder asking again without counting it twice", () => {
    for (const scope of [window, bucket]) {
      const state = take({ starts: [] }, scope, 0, "a");
      const again = take(state, scope, 5, "a");
      expect(again.starts).toHaveLength(1);
      expect(again.starts[0]?.[0]).toBe(5);
    }
  });

  it("gives back and corrects on either algorithm", () => {
    for (const scope of [window, bucket]) {
      const capacity = scope.burst ?? scope.limit;
      let full: WindowState = { starts: [] };
      for (let i = 0; i < capacity; i++) full = take(full, scope, 0, `h${i}`);
      expect(admitScope(full, scope, 0, "late").admitted).toBe(false);
      const released = releaseScope(full, scope, "h0", 0);
      expect(released.starts).toHaveLength(capacity - 1);
      expect(admitScope(released, scope, 0, "late").admitted).toBe(true);
    }
    const heavy = take({ starts: [] }, { ...window, limit: 100, cost: 90 }, 0, "a");
    const corrected = correctScope(heavy, { ...window, limit: 100 }, "a", 10, 0);
    expect(admitScope(corrected, { ...window, limit: 100, cost: 80 }, 1, "b").admitted).toBe(true);
  });

  it("holds a concurrency place until it is released, and looks again soon when full", () => {
    const held = take({ starts: [] }, lane, 0, "a");
    // Long after any rate window, the place is still taken...
    expect(admitScope(held, lane, 20_000, "b")).toEqual({ admitted: false, retryAfterMs: CONCURRENCY_RECHECK_MS });
    // ...until its holder gives it back.
    expect(admitScope(releaseScope(held, lane, "a", 20_000), lane, 20_000, "b").admitted).toBe(true);
    // A holder that never does, nor renews it (its executor died), loses it when the lease ends.
    expect(admitScope(held, lane, CONCURRENCY_LEASE_MS + 1_000, "b").admitted).toBe(true);
  });
});

describe("renewing a concurrency place", () => {
  const third = CONCURRENCY_LEASE_MS / 3;

  it("keeps a place its holder renews for as long as it runs, and frees it a lease after the last renewal", () => {
    let held = take({ starts: [] }, lane, 0, "a");
    for (let now = third; now <= 10 * CONCURRENCY_LEASE_MS; now += third) {
      expect(admitScope(held, lane, now, "b").admitted).toBe(false);
      held = renewScope(held, lane, "a", now) ?? held;
    }
    const lastRenewal = 10 * CONCURRENCY_LEASE_MS;
    expect(held.starts).toEqual([[lastRenewal, "a"]]);
    expect(admitScope(held, lane, lastRenewal + CONCURRENCY_LEASE_MS - 1_000, "b").admitted).toBe(false);
    expect(admitScope(held, lane, lastRenewal + CONCURRENCY_LEASE_MS + 1_000, "b").admitted).toBe(true);
  });

  it("admits nothing: no place for a holder without an entry, nor one whose lease ended, nor one given back", () => {
    expect(renewScope({ starts: [] }, lane, "a", 5)).toBeUndefined();
    const held = take({ starts: [] }, lane, 0, "a");
    expect(renewScope(held, lane, "stranger", 5)).toBeUndefined();
    expect(renewScope(held, lane, "a", CONCURRENCY_LEASE_MS + 1_000)).toBeUndefined();
    expect(renewScope(releaseScope(held, lane, "a", 5), lane, "a", 6)).toBeUndefined();
  });

  it("moves only the holder's entry, and renews nothing on a scope that is not a cap", () => {
    const two = { ...lane, limit: 2 };
    const both = take(take({ starts: [] }, two, 0, "a"), two, 10, "b");
    expect(renewScope(both, two, "a", 20)?.starts).toEqual([
      [10, "b"],
      [20, "a"],
    ]);
    expect(renewScope(take({ starts: [] }, window, 0, "a"), window, "a", 5)).toBeUndefined();
  });
});

describe("usedShare", () => {
  it("is what the window holds over the scope's room, entries that left the window no longer counted", () => {
    const one = take({ starts: [] }, window, 0, "a");
    expect(usedShare(one, window, 10)).toBe(0.5);
    expect(usedShare(take(one, window, 10, "b"), window, 20)).toBe(1);
    expect(usedShare(one, window, 2_000)).toBe(0);
  });

  it("counts a token bucket's burst as room, and a block-only scope has none", () => {
    expect(usedShare(take({ starts: [] }, bucket, 0, "a"), bucket, 10)).toBeCloseTo(1 / 3);
    expect(usedShare({ starts: [] }, { ...window, blockOnly: true }, 0)).toBeUndefined();
  });
});
