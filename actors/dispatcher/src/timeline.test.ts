import { describe, expect, it } from "vitest";
import { RequestOptionsSchema, type OrchestrateReply, type RequestRecord, type TurnRecord } from "@toolformer/protocol";
import { timelineOf } from "./timeline.ts";

const options = RequestOptionsSchema.parse({});
const turn = (round: number, extra: Partial<TurnRecord> = {}): TurnRecord => ({
  requestId: "r1",
  round,
  toolCalls: [],
  usage: { inputTokens: 10, outputTokens: 2 },
  stopReason: "stop",
  planned: [],
  modelMs: 40,
  ...extra,
});
const first = turn(1, { text: "thinking", request: { id: "r1", model: "fake:x", options } });
const finished = (reply: Partial<OrchestrateReply>): RequestRecord => ({
  state: "finished",
  reply: {
    id: "r1",
    status: "completed",
    answer: "42",
    toolCalls: [],
    rounds: 1,
    timings: { acceptedAt: 0, completedAt: 1, totalMs: 1, modelMs: 1, toolsMs: 0 },
    ...reply,
  },
});
const reasonOf = (read: ReturnType<typeof timelineOf>) =>
  read.ok ? "ok" : (read.error.details as { reason: string }).reason;

describe("a request's recorded timeline", () => {
  it("is the recorded turns up to the first missing one, and the reply's calls and end", () => {
    const read = timelineOf("r1", finished({}), [first, turn(2, { text: "42" }), undefined]);
    expect(read).toMatchObject({
      ok: true,
      request: { model: "fake:x" },
      timeline: {
        id: "r1",
        model: "fake:x",
        status: "completed",
        answer: "42",
        turns: [{ round: 1, text: "thinking" }, { round: 2 }],
      },
    });
    expect(read.ok && read.timeline.turns[0]).not.toHaveProperty("planned");
  });

  it("says why a request cannot be replayed", () => {
    expect(reasonOf(timelineOf("r1", undefined, []))).toBe("unknown");
    expect(reasonOf(timelineOf("r1", { state: "running", acceptedAt: 0, deadline: 1 }, []))).toBe("running");
    // The model answered once at least, so turns were recorded: they are gone.
    expect(reasonOf(timelineOf("r1", finished({}), [undefined, undefined]))).toBe("expired");
    expect(reasonOf(timelineOf("r1", finished({ status: "failed", answer: undefined, rounds: 0 }), [undefined]))).toBe(
      "no_turns",
    );
    expect(reasonOf(timelineOf("r1", finished({}), [turn(1), turn(2)]))).toBe("not_recorded");
  });
});
