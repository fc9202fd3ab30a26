import type { KV } from "@nats-io/kv";
import {
  ErrorCode,
  OrchestrateReplySchema,
  RequestStatus,
  subjectToken,
  type ErrorBody,
  type RecordedRequest,
  type RecordedTurn,
  type ReplayTimeline,
  type RequestRecord,
  type TurnRecord,
} from "@toolformer/protocol";
import { PROGRESS_KEPT_MS, type RetryOptions } from "@toolformer/runtime";
import type { RequestProgress } from "./progress.ts";
import { readRecord } from "./request-record.ts";

/** A finished request's recorded timeline and what a replay needs of the request; or why it has none. */
export type TimelineRead =
  { ok: true; timeline: ReplayTimeline; request: RecordedRequest } | { ok: false; error: ErrorBody };

/** Why a request cannot be replayed, as `details.reason` of `NOT_REPLAYABLE`. */
export const NotReplayable = {
  /** No request of that id is known (or its record, kept 24 h, is gone). */
  unknown: "unknown",
  running: "running",
  /** It ended before the model's first answer: no turn was recorded. */
  noTurns: "no_turns",
  /** Its turns were recorded, and have expired with the rounds stream's messages. */
  expired: "expired",
  /** Its first turn was recorded by a release that kept nothing of the request for a replay. */
  notRecorded: "not_recorded",
} as const;
export type NotReplayable = (typeof NotReplayable)[keyof typeof NotReplayable];

/**
 * Reads a request's timeline: its idempotency record (the reply, kept 24 h) and its recorded turns (in
 * the rounds stream, kept `PROGRESS_KEPT_MS`). Every read is retried through leader elections.
 */
export async function readTimeline(
  requestId: string,
  requests: KV,
  progress: Pick<RequestProgress, "turn">,
  retry: RetryOptions,
): Promise<TimelineRead> {
  const record = await readRecord(requests, subjectToken(requestId), retry);
  const reply = record?.state === "finished" ? OrchestrateReplySchema.safeParse(record.reply).data : undefined;
  // The turns that asked for tools, and the answer's after them.
  const rounds = reply ? reply.rounds + 1 : 0;
  const turns = await Promise.all(Array.from({ length: rounds }, (_, index) => progress.turn(index + 1)));
  return timelineOf(requestId, record, turns);
}

/** The timeline from a request's record and its turns read in round order (undefined: not recorded). */
export function timelineOf(
  requestId: string,
  record: RequestRecord | undefined,
  turns: readonly (TurnRecord | undefined)[],
): TimelineRead {
  const refuse = (reason: NotReplayable, message: string): TimelineRead => ({
    ok: false,
    error: { code: ErrorCode.NOT_REPLAYABLE, message, details: { reason } },
  });
  if (!record) return refuse(NotReplayable.unknown, `no request ${requestId} is known`);
  if (record.state === "running")
    return refuse(NotReplayable.running, `request ${requestId} is still running: replay it once it has finished`);
  const reply = OrchestrateReplySchema.safeParse(record.reply);
  if (!reply.success) return refuse(NotReplayable.unknown, `request ${requestId} has no readable reply`);
  const { status, answer, error, rounds, toolCalls } = reply.data;
  // Up to the first round not recorded: the request ended there.
  const recorded: TurnRecord[] = [];
  for (const turn of turns) {
    if (!turn) break;
    recorded.push(turn);
  }
  const first = recorded[0];
  if (!first) {
    // The model answered at least once: its turns were recorded, and are gone now.
    return status === RequestStatus.completed || rounds > 0
      ? refuse(
          NotReplayable.expired,
          `the records of request ${requestId} have expired: turns are kept ${PROGRESS_KEPT_MS / 3_600_000} h`,
        )
      : refuse(NotReplayable.noTurns, `request ${requestId} ended ${status} before the model's first answer`);
  }
  if (!first.request)
    return refuse(
      NotReplayable.notRecorded,
      `request ${requestId} was recorded by a release that kept nothing of it for a replay`,
    );
  const timeline: ReplayTimeline = {
    id: reply.data.id ?? requestId,
    model: first.request.model,
    status,
    ...(answer === undefined ? {} : { answer }),
    ...(error === undefined ? {} : { error }),
    turns: recorded.map(turnOf),
    toolCalls,
  };
  return { ok: true, timeline, request: first.request };
}

function turnOf({ round, text, toolCalls, usage, modelMs }: TurnRecord): RecordedTurn {
  return { round, ...(text === undefined ? {} : { text }), toolCalls, usage, modelMs };
}
