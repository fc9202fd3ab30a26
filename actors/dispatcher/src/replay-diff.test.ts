import { describe, expect, it } from "vitest";
import type { ReplayTimeline, ToolCallRecord } from "@toolformer/protocol";
import { diffReplay } from "./replay-diff.ts";

const record = (id: string, round: number, result: unknown, extra: Partial<ToolCallRecord> = {}): ToolCallRecord => ({
  id,
  tool: "lookup",
  args: { id },
  status: "succeeded",
  result,
  round,
  startedAt: 1_000,
  durationMs: 5,
  speculative: false,
  ...extra,
});

const turn = (round: number) => ({ round, toolCalls: [], usage: { inputTokens: 1, outputTokens: 1 }, modelMs: 3 });

const recorded: Pick<ReplayTimeline, "status" | "answer" | "turns" | "toolCalls"> = {
  status: "completed",
  answer: "done",
  turns: [turn(1), turn(2), turn(3)],
  toolCalls: [record("a", 1, { v: 1 }), record("b", 1, { v: 2 }), record("c", 2, { v: 3 })],
};

describe("a replay against the records", () => {
  it("finds nothing when only times differ, and results differ only in key order", () => {
    const replayed = {
      status: "completed" as const,
      answer: "done",
      toolCalls: recorded.toolCalls.map((call) => ({
        ...call,
        startedAt: 9_000,
        durationMs: 70,
        result: { ...(call.result as object) },
      })),
    };
    expect(diffReplay(recorded, replayed)).toEqual({ same: true, calls: [] });
  });

  it("names each call that differs and what, and the first turn the model wrote after a changed result", () => {
    const replayed = {
      status: "completed" as const,
      answer: "done",
      toolCalls: [
        record("a", 1, { v: 1 }),
        record("b", 1, undefined, { status: "failed", error: { code: "TOOL_FAILED", message: "gone" } }),
        record("c", 2, { v: 3 }, { args: { id: "c", more: true } }),
      ],
    };
    const diff = diffReplay(recorded, replayed);
    expect(diff.same).toBe(false);
    expect(diff.calls.map((call) => [call.callId, call.changed])).toEqual([
      ["b", ["status", "result", "error"]],
      ["c", ["args"]],
    ]);
    // Round 1's changed outcome was shown to turn 2: from there the recorded turns may not fit.
    expect(diff.divergedAt).toBe(2);
  });

  it("matches calls by their place in the round, and says which only one run has", () => {
    const replayed = {
      status: "failed" as const,
      toolCalls: [record("a2", 1, { v: 1 }, { args: { id: "a" } }), record("b", 1, { v: 2 })],
      error: { code: "NOT_REPLAYABLE" as const, message: "x" },
    };
    const diff = diffReplay(recorded, replayed);
    expect(
      diff.calls.map((call) => [call.callId, call.changed, Boolean(call.recorded), Boolean(call.replayed)]),
    ).toEqual([["c", ["missing"], true, false]]);
    expect(diff.status).toEqual({ recorded: "completed", replayed: "failed" });
    expect(diff.answer).toEqual({ recorded: "done" });
    // Round 2 was the last with calls; the answer (turn 3) saw its missing call.
    expect(diff.divergedAt).toBe(3);
  });

  it("flags no turn when the change is in the last recorded turn's round", () => {
    const last = { ...recorded, turns: [turn(1), turn(2)] };
    const replayed = {
      status: "completed" as const,
      answer: "done",
      toolCalls: [...recorded.toolCalls.slice(0, 2), record("c", 2, { v: 30 })],
    };
    const diff = diffReplay(last, replayed);
    expect(diff.calls.map((call) => call.callId)).toEqual(["c"]);
    expect(diff.divergedAt).toBeUndefined();
  });

  it("compares results kept in the object store by their size", () => {
    const ref = (bytes: number) => ({ result: undefined, resultRef: { bucket: "tf_results", name: "x", bytes } });
    const before = { ...recorded, toolCalls: [record("a", 1, undefined, ref(300_000))] };
    const sameSize = {
      status: "completed" as const,
      answer: "done",
      toolCalls: [
        record("a", 1, undefined, { ...ref(300_000), resultRef: { bucket: "tf_results", name: "y", bytes: 300_000 } }),
      ],
    };
    const otherSize = { ...sameSize, toolCalls: [record("a", 1, undefined, ref(300_001))] };
    expect(diffReplay(before, sameSize).same).toBe(true);
    expect(diffReplay(before, otherSize).calls[0]?.changed).toEqual(["result"]);
  });
});
