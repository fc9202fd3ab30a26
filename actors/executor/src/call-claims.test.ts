import { describe, expect, it } from "vitest";
import { claimDecision } from "./call-claims.ts";

describe("a call's claim", () => {
  it("is taken when there is none, when it is the run's own, or when its lease has lapsed; else waited for", () => {
    expect(claimDecision(undefined, "run-a", 0)).toBe("take");
    expect(claimDecision({ executorId: "x1", run: "run-a", leaseUntil: 100 }, "run-a", 50)).toBe("take");
    expect(claimDecision({ executorId: "x1", run: "run-b", leaseUntil: 100 }, "run-a", 100)).toBe("take");
    expect(claimDecision({ executorId: "x1", run: "run-b", leaseUntil: 100 }, "run-a", 99)).toEqual({ until: 100 });
  });
});
