import { describe, expect, it } from "vitest";
import { permitRequest } from "@toolformer/testing";
import { concurrencyScope, type RateLimitFeedback, type RateLimitScope } from "@toolformer/protocol";
import { applyFeedback, tryAcquire } from "./limiter.ts";
import type { WindowState } from "./sliding-window.ts";
import type { WindowStore } from "./window-store.ts";

const LEASE_MS = 2_000;
const cap = concurrencyScope("concurrency:tool:slow", 1, LEASE_MS);

/** The scopes' state in memory under a clock the test moves, counting the writes; writes to `unwritable` fail. */
function limiter(unwritable?: string) {
  const states = new Map<string, WindowState>();
  let now = 0;
  let writes = 0;
  let failing = false;
  const store = {
    async update<T>(scope: RateLimitScope, change: (state: WindowState) => { next?: WindowState; result: T }) {
      if (failing && scope.key === unwritable) throw new Error(`${scope.key} has no leader`);
      const { next, result } = change(states.get(scope.key) ?? { starts: [] });
      if (next) {
        states.set(scope.key, next);
        writes++;
      }
      return result;
    },
  } as WindowStore;
  const clock = () => now;
  const acquire = async (callId: string, scopes: RateLimitScope[] = [cap]) => {
    const [outcome] = await tryAcquire(store, [permitRequest({ callId, scopes, deadline: 1e12 })], clock);
    return outcome?.granted ?? false;
  };
  const envelope = (callId: string) => ({ requestId: "load", callId, attempt: 1, deadline: 1e12, traceparent: "" });
  const feedback = (op: "renew" | "release", callId: string, scopes: RateLimitScope[] = [cap]) => {
    const sent: RateLimitFeedback =
      op === "renew" ? { op, ...envelope(callId), scopes } : { op, ...envelope(callId), scopes };
    return applyFeedback(store, sent, clock);
  };
  return {
    acquire,
    feedback,
    at: (ms: number) => void (now = ms),
    failFromNow: () => void (failing = true),
    writes: () => writes,
    holders: (key = cap.key) => (states.get(key)?.starts ?? []).map(([, holder]) => holder.split("/")[1]),
  };
}

describe("applyFeedback: renewing a running call's places", () => {
  it("keeps a place its call renews past the lease, and frees it about a lease after renewals stop", async () => {
    const { acquire, feedback, at } = limiter();
    expect(await acquire("long")).toBe(true);
    for (const ms of [600, 1_200, 1_800, 2_400, 3_000]) {
      at(ms);
      expect(await acquire("next")).toBe(false);
      await feedback("renew", "long");
    }
    at(3_000 + LEASE_MS - 100);
    expect(await acquire("next")).toBe(false);
    at(3_000 + LEASE_MS + 100);
    expect(await acquire("next")).toBe(true);
  });

  it("frees a place nobody renews (its executor died) once its lease ends", async () => {
    const { acquire, at } = limiter();
    expect(await acquire("orphan")).toBe(true);
    at(LEASE_MS - 100);
    expect(await acquire("next")).toBe(false);
    at(LEASE_MS + 100);
    expect(await acquire("next")).toBe(true);
  });

  it("admits nothing for a holder without a place: not after its release, its lease, nor on another scope", async () => {
    const { acquire, feedback, at, writes, holders } = limiter();
    const other = concurrencyScope("concurrency:all", 5, LEASE_MS);
    await feedback("renew", "never-admitted", [cap, other]);
    expect(holders()).toEqual([]);
    expect(holders(other.key)).toEqual([]);
    expect(writes()).toBe(0);

    expect(await acquire("a")).toBe(true);
    await feedback("release", "a");
    await feedback("renew", "a");
    expect(holders()).toEqual([]);

    expect(await acquire("b")).toBe(true);
    at(LEASE_MS + 100);
    await feedback("renew", "b");
    expect(await acquire("c")).toBe(true);
    expect(holders()).toEqual(["c"]);
  });
});

describe("applyFeedback: releasing a finished call's places", () => {
  it("frees its place on every scope, even where another scope's write fails", async () => {
    const other = concurrencyScope("concurrency:all", 5, LEASE_MS);
    const { acquire, feedback, holders, failFromNow } = limiter(cap.key);
    expect(await acquire("done", [cap, other])).toBe(true);
    expect(holders(other.key)).toEqual(["done"]);
    failFromNow();
    await expect(feedback("release", "done", [cap, other])).rejects.toThrow("has no leader");
    expect(holders(other.key)).toEqual([]);
    expect(holders()).toEqual(["done"]); // its lease frees that one (ADR 0035)
  });
});
