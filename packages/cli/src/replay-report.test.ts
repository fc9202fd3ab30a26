import { describe, expect, it } from "vitest";
import type { ReplayDiff, ReplayTimeline, ToolCallRecord } from "@toolformer/protocol";
import { renderReplay, renderTimeline } from "./replay-report.ts";

const call = (id: string, extra: Partial<ToolCallRecord> = {}): ToolCallRecord => ({
  id,
  tool: "fetch",
  args: { id },
  status: "succeeded",
  result: { ok: id },
  round: 1,
  startedAt: 0,
  durationMs: 1,
  speculative: false,
  ...extra,
});
const recorded: ReplayTimeline = {
  id: "r1",
  model: "fake:x",
  status: "timeout",
  error: { code: "TIMEOUT", message: "too slow" },
  turns: [{ round: 1, toolCalls: [], usage: { inputTokens: 9, outputTokens: 3 }, modelMs: 12.4 }],
  toolCalls: [
    call("a", { result: undefined, resultRef: { bucket: "tf_results", name: "r1.a", bytes: 300_000 } }),
    call("b", { status: "failed", result: undefined, error: { code: "TOOL_FAILED", message: "down" } }),
  ],
};

describe("what toolformer replay prints", () => {
  it("shows a timeline's turns, each call's outcome (a stored result by its size) and how it ended", () => {
    expect(renderTimeline(recorded)).toEqual([
      "recorded r1 (fake:x): timeout, 1 turn",
      "turn 1  12 ms, 9/3 tokens, 2 calls",
      '  fetch [a] {"id":"a"} → [stored: 300000 bytes in tf_results]',
      '  fetch [b] {"id":"b"} → failed TOOL_FAILED down',
      "timeout: TIMEOUT too slow",
    ]);
  });

  it("marks each call as recorded or changed, calls only one run has, and a different end", () => {
    const fixed = call("b");
    const extra = call("z");
    const diff: ReplayDiff = {
      same: false,
      calls: [
        {
          round: 1,
          callId: "b",
          tool: "fetch",
          changed: ["status", "result", "error"],
          recorded: recorded.toolCalls[1],
          replayed: fixed,
        },
        { round: 1, callId: "z", tool: "fetch", changed: ["missing"], replayed: extra },
      ],
      status: { recorded: "timeout", replayed: "completed" },
      answer: { replayed: "fine" },
    };
    expect(renderReplay(recorded, "replay_1", diff)).toEqual([
      "replay of r1 as replay_1: 2 calls differ",
      "turn 1",
      '  = fetch [a] {"id":"a"} → [stored: 300000 bytes in tf_results]',
      '  ≠ fetch [b] status: failed → succeeded; result: null → {"ok":"b"}; error: TOOL_FAILED → none',
      "  ≠ fetch [z] only in the replay",
      "status: timeout → completed",
      'answer: null → "fine"',
    ]);
  });
});
