import { describe, expect, it } from "vitest";
import { applyEvent, EMPTY_STATS } from "./tool-stats.ts";

const call = { requestId: "r", at: 0, callId: "c", tool: "t", round: 1 };

describe("applyEvent", () => {
  it("counts outcomes and durations per tool", () => {
    let stats = applyEvent(EMPTY_STATS, { type: "tool.completed", ...call, durationMs: 40, result: 1 });
    stats = applyEvent(stats ?? EMPTY_STATS, {
      type: "tool.failed",
      ...call,
      status: "failed",
      error: { code: "TOOL_FAILED", message: "x" },
    });
    stats = applyEvent(stats ?? EMPTY_STATS, { type: "tool.cancelled", ...call });
    expect(stats).toEqual({ completed: 1, failed: 1, cancelled: 1, totalDurationMs: 40 });
  });

  it("ignores events that are not about a tool's outcome", () => {
    expect(applyEvent(EMPTY_STATS, { type: "tool.scheduled", ...call, args: {} })).toBeUndefined();
    expect(
      applyEvent(EMPTY_STATS, { type: "request.accepted", requestId: "r", at: 0, model: "m", tools: [] }),
    ).toBeUndefined();
  });
});
