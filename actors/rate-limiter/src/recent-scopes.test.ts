import { describe, expect, it } from "vitest";
import { MAX_RECENT_SCOPES, RECENT_SCOPE_MS, RecentScopes } from "./recent-scopes.ts";

const scope = (key: string, limit = 5) => ({ key, limit, intervalMs: 1000 });

describe("RecentScopes", () => {
  it("reports each scope asked for with its latest definition and the line waiting for it", () => {
    const recent = new RecentScopes();
    recent.see([scope("tool:a"), scope("tool:b")], 0);
    recent.see([scope("tool:a", 9)], 10);
    const report = recent.report([{ key: "tool:a", waiting: 3, oldestSince: 4 }], 20);
    expect(report.scopes).toEqual([
      { scope: scope("tool:b"), waiting: 0 },
      { scope: scope("tool:a", 9), waiting: 3, oldestSince: 4 },
    ]);
  });

  it("forgets a scope no call asked for lately, and the least recent beyond the cap", () => {
    const recent = new RecentScopes();
    recent.see([scope("old")], 0);
    recent.see([scope("new")], RECENT_SCOPE_MS);
    expect(recent.report([], RECENT_SCOPE_MS + 1).scopes.map((s) => s.scope.key)).toEqual(["new"]);
    for (let i = 0; i <= MAX_RECENT_SCOPES; i++) recent.see([scope(`s${i}`)], RECENT_SCOPE_MS);
    const keys = recent.report([], RECENT_SCOPE_MS).scopes.map((s) => s.scope.key);
    expect(keys).toHaveLength(MAX_RECENT_SCOPES);
    expect(keys).not.toContain("new");
  });
});
