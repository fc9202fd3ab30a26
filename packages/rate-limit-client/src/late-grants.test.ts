import { describe, expect, it } from "vitest";
import type { RateLimitScope } from "@toolformer/protocol";
import { confirmBeforeStart, MAX_CONFIRMATIONS, needsRecount, RECOUNT_AFTER_MS } from "./late-grants.ts";

const perSecond: RateLimitScope = { key: "tool:search", limit: 50, intervalMs: 1_000 };
const per100Ms: RateLimitScope = { key: "config:burst", limit: 5, intervalMs: 100 };
const blockOnly: RateLimitScope = { key: "tool:free", limit: 1, intervalMs: 1, blockOnly: true };
const oneAtATime: RateLimitScope = { key: "concurrency:all", limit: 1, intervalMs: 600_000, concurrent: true };

describe("a late grant", () => {
  it("starts at once when late by less than half the shortest window", () => {
    expect(confirmBeforeStart(0, [perSecond], 0, false)).toBe(false);
    expect(confirmBeforeStart(499, [perSecond], 0, false)).toBe(false);
  });

  it("is confirmed before it starts when later than that, until asking is over", () => {
    expect(confirmBeforeStart(500, [perSecond], 0, false)).toBe(true);
    expect(confirmBeforeStart(60, [perSecond, per100Ms], 0, false)).toBe(true);
    expect(confirmBeforeStart(600, [perSecond], MAX_CONFIRMATIONS, false)).toBe(false);
    expect(confirmBeforeStart(600, [perSecond], 0, true)).toBe(false);
  });

  it("has its start counted again when the call started later than a third of the guard after the count", () => {
    expect(needsRecount(RECOUNT_AFTER_MS, [perSecond])).toBe(false);
    expect(needsRecount(RECOUNT_AFTER_MS + 1, [perSecond])).toBe(true);
    // However late: a call that started after its confirmations is counted from its start too.
    expect(needsRecount(900, [perSecond])).toBe(true);
  });

  it("does not matter to scopes that count no starts in a window", () => {
    expect(confirmBeforeStart(10_000, [blockOnly, oneAtATime], 0, false)).toBe(false);
    expect(needsRecount(10_000, [blockOnly, oneAtATime])).toBe(false);
    expect(confirmBeforeStart(600, [blockOnly, oneAtATime, perSecond], 0, false)).toBe(true);
  });
});
