import { describe, expect, it } from "vitest";
import { ContentType, decode, type ReplayReply } from "@toolformer/protocol";
import { replayAnswerBytes } from "./replay-answer.ts";

const answer: ReplayReply = {
  ok: true,
  recorded: { id: "r1", model: "fake:x", status: "completed", answer: "x".repeat(2_000), turns: [], toolCalls: [] },
  replayId: "replay_1",
  diff: { same: true, calls: [] },
};

describe("a replay's answer", () => {
  it("goes whole when it fits one message", () => {
    expect(decode(replayAnswerBytes(answer, 10_000), ContentType.json)).toEqual(answer);
  });

  it("says it is too large, and names the replay, when it does not", () => {
    expect(decode(replayAnswerBytes(answer, 1_000), ContentType.json)).toMatchObject({
      ok: false,
      error: { code: "PAYLOAD_TOO_LARGE", details: { replayId: "replay_1" } },
    });
  });
});
