import { describe, expect, it } from "vitest";
import { addStats, deltaOf, EMPTY_STATS, type ToolStats } from "./tool-stats.ts";

const call = { requestId: "r", at: 0, callId: "c", tool: "t", round: 1 };

describe("tool stats", () => {
  it("turns outcome events into additive deltas", () => {
    const deltas = [
      deltaOf({ type: "tool.completed", ...call, durationMs: 40, result: 1 }),
      deltaOf({ type: "tool.failed", ...call, status: "failed", error: { code: "TOOL_FAILED", message: "x" } }),
      deltaOf({ type: "tool.cancelled", ...call }),
    ];
    const total = deltas.reduce<ToolStats>((sum, d) => addStats(sum, d ?? EMPTY_STATS), EMPTY_STATS);
    expect(total).toEqual({ completed: 1, failed: 1, cancelled: 1, totalDurationMs: 40 });
  });

  it("ignores events that are not about a tool's outcome", () => {
    expect(deltaOf({ type: "tool.scheduled", ...call, args: {} })).toBeUndefined();
    expect(deltaOf({ type: "request.accepted", requestId: "r", at: 0, model: "m", tools: [] })).toBeUndefined();
  });
});
