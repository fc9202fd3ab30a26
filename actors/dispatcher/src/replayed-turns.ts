import { ErrorCode, type TurnRecord } from "@toolformer/protocol";
import type { LoopEvent } from "./model-loop.ts";

/**
 * What a replay (ADR 0027) takes as the model's answer for `round`: the turn the replayed request
 * recorded, as the model wrote it (its calls are planned again, against the tools as they are now).
 * No model is asked, so no tokens are counted. A round the replayed request never reached (it ended
 * without an answer: cancelled, timed out, failed) ends the replay there.
 */
export function replayedAnswer(recorded: TurnRecord | undefined, round: number, replayOf: string): LoopEvent {
  if (!recorded) {
    const message = `request ${replayOf} recorded no turn for round ${round}: it ended before the model answered it`;
    return { type: "modelFailed", round, error: { code: ErrorCode.NOT_REPLAYABLE, message, details: { round } } };
  }
  const { text, toolCalls, stopReason } = recorded;
  return {
    type: "modelAnswered",
    round,
    answer: {
      ...(text === undefined ? {} : { text }),
      toolCalls,
      usage: { inputTokens: 0, outputTokens: 0 },
      stopReason,
    },
  };
}
