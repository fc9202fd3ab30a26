import { describe, expect, it } from "vitest";
import type { TurnRecord } from "@toolformer/protocol";
import { replayedAnswer } from "./replayed-turns.ts";

describe("a replayed turn", () => {
  it("is the recorded one as the model wrote it, with no tokens spent", () => {
    const recorded: TurnRecord = {
      requestId: "r1",
      round: 2,
      text: "looking",
      toolCalls: [{ id: "c1", name: "echo", arguments: '{"x":1}' }],
      usage: { inputTokens: 300, outputTokens: 20 },
      stopReason: "tool_calls",
      planned: [],
      modelMs: 800,
    };
    expect(replayedAnswer(recorded, 2, "r1")).toEqual({
      type: "modelAnswered",
      round: 2,
      answer: {
        text: "looking",
        toolCalls: recorded.toolCalls,
        usage: { inputTokens: 0, outputTokens: 0 },
        stopReason: "tool_calls",
      },
    });
  });

  it("ends the replay where the replayed request ended", () => {
    expect(replayedAnswer(undefined, 3, "r1")).toMatchObject({
      type: "modelFailed",
      round: 3,
      error: { code: "NOT_REPLAYABLE", details: { round: 3 } },
    });
  });
});
