import {
  CallChange,
  canonicalJson,
  ContentType,
  encode,
  type CallDiff,
  type OrchestrateReply,
  type ReplayDiff,
  type ReplayTimeline,
  type ToolCallRecord,
} from "@toolformer/protocol";

/** What the model is shown of a call: a change in one of these means a later turn saw something else. */
const SEEN_BY_MODEL: ReadonlySet<CallChange> = new Set([
  CallChange.status,
  CallChange.result,
  CallChange.error,
  CallChange.missing,
]);

/**
 * A replay's reply against the recorded request (ADR 0027). Calls are matched by round and by their
 * place in the round: the replay plans the same recorded turns again, so the same calls come in the same
 * order, whatever ids they were given. Times are never compared. A round's changed results were shown
 * to the model's next turn: if that turn was recorded, the replay went on with a turn the model wrote
 * after other results (`divergedAt`).
 */
export function diffReplay(
  recorded: Pick<ReplayTimeline, "status" | "answer" | "turns" | "toolCalls">,
  replayed: Pick<OrchestrateReply, "status" | "answer" | "toolCalls">,
): ReplayDiff {
  const rounds = [...new Set([...recorded.toolCalls, ...replayed.toolCalls].map((call) => call.round))].sort(
    (a, b) => a - b,
  );
  const calls = rounds
    .flatMap((round) => {
      const before = recorded.toolCalls.filter((call) => call.round === round);
      const after = replayed.toolCalls.filter((call) => call.round === round);
      return Array.from({ length: Math.max(before.length, after.length) }, (_, i) =>
        callDiff(round, before[i], after[i]),
      );
    })
    .filter((diff) => diff !== undefined);
  // Calls are in round order: the first one the model would have seen differently.
  const firstSeen = calls.find((diff) => diff.changed.some((change) => SEEN_BY_MODEL.has(change)))?.round;
  const lastTurn = Math.max(0, ...recorded.turns.map((turn) => turn.round));
  const divergedAt = firstSeen !== undefined && firstSeen < lastTurn ? firstSeen + 1 : undefined;
  const status =
    recorded.status === replayed.status ? undefined : { recorded: recorded.status, replayed: replayed.status };
  const answer =
    recorded.answer === replayed.answer
      ? undefined
      : {
          ...(recorded.answer === undefined ? {} : { recorded: recorded.answer }),
          ...(replayed.answer === undefined ? {} : { replayed: replayed.answer }),
        };
  return {
    same: calls.length === 0 && status === undefined && answer === undefined,
    calls,
    ...(divergedAt === undefined ? {} : { divergedAt }),
    ...(status === undefined ? {} : { status }),
    ...(answer === undefined ? {} : { answer }),
  };
}

function callDiff(
  round: number,
  recorded: ToolCallRecord | undefined,
  replayed: ToolCallRecord | undefined,
): CallDiff | undefined {
  if (!recorded || !replayed) {
    const only = (recorded ?? replayed)!;
    return {
      round,
      callId: only.id,
      tool: only.tool,
      changed: [CallChange.missing],
      ...(recorded ? { recorded } : { replayed: only }),
    };
  }
  const changed: CallChange[] = [];
  if (recorded.status !== replayed.status) changed.push(CallChange.status);
  if (canonicalJson(recorded.args) !== canonicalJson(replayed.args)) changed.push(CallChange.args);
  if (!sameResult(recorded, replayed)) changed.push(CallChange.result);
  if (recorded.error?.code !== replayed.error?.code || recorded.error?.message !== replayed.error?.message)
    changed.push(CallChange.error);
  if (changed.length === 0) return undefined;
  return { round, callId: recorded.id, tool: recorded.tool, changed, recorded, replayed };
}

/** A result kept in the object store (`resultRef`) is compared by its size: its content is not at hand. */
function sameResult(a: ToolCallRecord, b: ToolCallRecord): boolean {
  if (!a.resultRef && !b.resultRef) return canonicalJson(a.result) === canonicalJson(b.result);
  return resultBytes(a) === resultBytes(b);
}

function resultBytes(record: ToolCallRecord): number {
  return record.resultRef?.bytes ?? encode(record.result ?? null, ContentType.json).byteLength;
}
