import { describe, expect, it } from "vitest";
import type { RateLimitScope } from "@toolformer/protocol";
import { lateGrantAction, MAX_CONFIRMATIONS, RECOUNT_AFTER_MS } from "./late-grants.ts";

const perSecond: RateLimitScope = { key: "tool:search", limit: 50, intervalMs: 1_000 };
const per100Ms: RateLimitScope = { key: "config:burst", limit: 5, intervalMs: 100 };
const blockOnly: RateLimitScope = { key: "tool:free", limit: 1, intervalMs: 1, blockOnly: true };
const oneAtATime: RateLimitScope = { key: "concurrency:all", limit: 1, intervalMs: 600_000, concurrent: true };

describe("a late grant", () => {
  it("starts at once when on time", () => {
    expect(lateGrantAction(RECOUNT_AFTER_MS, [perSecond], 0, false)).toBe("start");
  });

  it("starts at once and is counted again from now when late by less than half the shortest window", () => {
    expect(lateGrantAction(RECOUNT_AFTER_MS + 1, [perSecond], 0, false)).toBe("startAndRecount");
    expect(lateGrantAction(499, [perSecond], 0, false)).toBe("startAndRecount");
    // Even after confirmations, or while stopping: the recount costs the start nothing.
    expect(lateGrantAction(40, [perSecond], MAX_CONFIRMATIONS, true)).toBe("startAndRecount");
  });

  it("is confirmed before it starts when later than that, until asking is over", () => {
    expect(lateGrantAction(500, [perSecond], 0, false)).toBe("confirmFirst");
    expect(lateGrantAction(60, [perSecond, per100Ms], 0, false)).toBe("confirmFirst");
    expect(lateGrantAction(600, [perSecond], MAX_CONFIRMATIONS, false)).toBe("start");
    expect(lateGrantAction(600, [perSecond], 0, true)).toBe("start");
  });

  it("does not matter to scopes that count no starts in a window", () => {
    expect(lateGrantAction(10_000, [blockOnly, oneAtATime], 0, false)).toBe("start");
    expect(lateGrantAction(600, [blockOnly, oneAtATime, perSecond], 0, false)).toBe("confirmFirst");
  });
});
