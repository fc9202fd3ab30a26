import { describe, expect, it } from "vitest";
import { mergeLimiterReports, ScopeHistory, scopeUse, toolsWithHosts } from "./cluster-view.ts";

const scope = { key: "tool:search", limit: 5, intervalMs: 1000 };

describe("scopeUse", () => {
  it("counts the cost of the admissions in the window ending now", () => {
    const state = {
      starts: [
        [100, "a"],
        [1500, "b", 3],
        [1900, "c"],
      ] as [number, string, ...number[]][],
    };
    expect(scopeUse(state, scope, 2000)).toEqual({ used: 4, capacity: 5 });
    expect(scopeUse(undefined, scope, 2000)).toEqual({ used: 0, capacity: 5 });
  });

  it("counts the holders of a concurrency cap within their lease, and adds a token bucket's burst to its capacity", () => {
    const state = {
      starts: [
        [0, "a"],
        [10, "b"],
      ] as [number, string][],
    };
    const cap = { ...scope, concurrent: true, limit: 2, intervalMs: 30_000 };
    expect(scopeUse(state, cap, 5000)).toEqual({ used: 2, capacity: 2 });
    // A place nobody renewed for its lease (its executor died) is free, though still logged.
    expect(scopeUse(state, cap, 30_005)).toEqual({ used: 1, capacity: 2 });
    expect(scopeUse(state, { ...scope, burst: 3 }, 500).capacity).toBe(8);
  });

  it("says how much longer an upstream's block lasts", () => {
    expect(scopeUse({ starts: [], blockedUntil: 2500 }, scope, 2000).blockedForMs).toBe(500);
    expect(scopeUse({ starts: [], blockedUntil: 1500 }, scope, 2000).blockedForMs).toBeUndefined();
  });
});

describe("mergeLimiterReports", () => {
  it("sums a scope's waiting calls over the limiter copies and keeps the longest wait", () => {
    const merged = mergeLimiterReports(
      [
        { scopes: [{ scope, waiting: 2, oldestSince: 900 }] },
        {
          scopes: [
            { scope, waiting: 1, oldestSince: 400 },
            { scope: { ...scope, key: "a" }, waiting: 0 },
          ],
        },
      ],
      1000,
    );
    expect(merged).toEqual([
      { scope: { ...scope, key: "a" }, waiting: 0 },
      { scope, waiting: 3, oldestWaitMs: 600 },
    ]);
  });
});

describe("toolsWithHosts", () => {
  it("lists each tool once with the executors that registered it", () => {
    const definition = (name: string) =>
      ({ name, description: "", parameters: {}, readOnly: false, idempotent: true, source: "typescript" }) as const;
    const tools = toolsWithHosts([
      { definition: definition("echo"), executorId: "executor-b", refreshedAt: 1 },
      { definition: definition("add"), executorId: "executor-a", refreshedAt: 2, capacity: 4 },
      { definition: definition("echo"), executorId: "executor-a", refreshedAt: 3 },
    ]);
    expect(tools.map((t) => [t.name, t.hosts.map((h) => h.executorId)])).toEqual([
      ["add", ["executor-a"]],
      ["echo", ["executor-a", "executor-b"]],
    ]);
  });
});

describe("ScopeHistory", () => {
  it("keeps each scope's last uses, oldest first", () => {
    const history = new ScopeHistory(2);
    const read = (at: number, used: number) => ({ at, scopes: [{ key: "k", used }] as never });
    history.record(read(1, 1));
    history.record(read(2, 3));
    history.record(read(3, 2));
    expect(history.toJSON()).toEqual({
      k: [
        [2, 3],
        [3, 2],
      ],
    });
  });
});
