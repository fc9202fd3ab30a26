import type { CallDiff, ReplayDiff, ReplayTimeline, ToolCallRecord } from "@toolformer/protocol";

/** A value longer than this (as JSON) is cut in a line; `--json` shows it whole. */
const MAX_VALUE_CHARS = 200;

const counted = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;

function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? "null";
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 1)}…` : text;
}

function resultOf(call: ToolCallRecord): string {
  if (call.resultRef) return `[stored: ${call.resultRef.bytes} bytes in ${call.resultRef.bucket}]`;
  return shown(call.result ?? null);
}

function outcomeOf(call: ToolCallRecord): string {
  if (call.status === "succeeded") return resultOf(call);
  return `${call.status}${call.error ? ` ${call.error.code} ${call.error.message}` : ""}`;
}

function turnHead(turn: ReplayTimeline["turns"][number], calls: number): string {
  const tokens = `${turn.usage.inputTokens}/${turn.usage.outputTokens} tokens`;
  return `turn ${turn.round}  ${Math.round(turn.modelMs)} ms, ${tokens}${calls > 0 ? `, ${counted(calls, "call")}` : ""}`;
}

/**
 * A finished request's recorded timeline as `toolformer replay --dry-run` prints it: each model turn,
 * then the calls it asked for with their arguments and outcomes, and how the request ended.
 */
export function renderTimeline(timeline: ReplayTimeline): string[] {
  const lines = [
    `recorded ${timeline.id} (${timeline.model}): ${timeline.status}, ${counted(timeline.turns.length, "turn")}`,
  ];
  for (const turn of timeline.turns) {
    const calls = timeline.toolCalls.filter((call) => call.round === turn.round);
    lines.push(turnHead(turn, calls.length));
    if (turn.text !== undefined) lines.push(`  says: ${shown(turn.text)}`);
    for (const call of calls) lines.push(`  ${call.tool} [${call.id}] ${shown(call.args)} → ${outcomeOf(call)}`);
  }
  lines.push(ending(timeline));
  return lines;
}

function ending(timeline: Pick<ReplayTimeline, "status" | "answer" | "error">): string {
  if (timeline.answer !== undefined) return `answer: ${timeline.answer}`;
  return `${timeline.status}${timeline.error ? `: ${timeline.error.code} ${timeline.error.message}` : ""}`;
}

function change(diff: CallDiff): string {
  const { recorded, replayed } = diff;
  if (!recorded || !replayed) return recorded ? "only in the records" : "only in the replay";
  return diff.changed
    .map((what) => {
      switch (what) {
        case "status":
          return `status: ${recorded.status} → ${replayed.status}`;
        case "args":
          return `args: ${shown(recorded.args)} → ${shown(replayed.args)}`;
        case "result":
          return `result: ${resultOf(recorded)} → ${resultOf(replayed)}`;
        case "error":
          return `error: ${recorded.error?.code ?? "none"} → ${replayed.error?.code ?? "none"} ${replayed.error?.message ?? ""}`.trimEnd();
        case "missing":
          return "";
      }
    })
    .join("; ");
}

/**
 * A replay against the records as `toolformer replay` prints it: per turn, `=` for a call whose
 * outcome is as recorded and `≠` with what changed; the turns recorded after results that changed (the
 * replay used them as they were); and whether the end differs.
 */
export function renderReplay(recorded: ReplayTimeline, replayId: string, diff: ReplayDiff): string[] {
  const verdict = diff.same ? "no difference" : `${counted(diff.calls.length, "call")} differ`;
  const lines = [`replay of ${recorded.id} as ${replayId}: ${verdict}`];
  const rounds = [...new Set([...recorded.turns.map((t) => t.round), ...diff.calls.map((c) => c.round)])].sort(
    (a, b) => a - b,
  );
  for (const round of rounds) {
    if (diff.divergedAt === round)
      lines.push(
        `! turn ${round} was recorded after results that changed: the replay used it as it was; the model might now answer otherwise`,
      );
    lines.push(`turn ${round}`);
    const text = recorded.turns.find((turn) => turn.round === round)?.text;
    if (text !== undefined) lines.push(`  says: ${shown(text)}`);
    const changed = diff.calls.filter((call) => call.round === round);
    // In the model's order; then the calls only the replay made.
    for (const call of recorded.toolCalls.filter((c) => c.round === round)) {
      const differs = changed.find((c) => c.recorded?.id === call.id);
      lines.push(
        differs
          ? `  ≠ ${call.tool} [${call.id}] ${change(differs)}`
          : `  = ${call.tool} [${call.id}] ${shown(call.args)} → ${outcomeOf(call)}`,
      );
    }
    for (const call of changed.filter((c) => !c.recorded))
      lines.push(`  ≠ ${call.tool} [${call.callId}] ${change(call)}`);
  }
  if (diff.status) lines.push(`status: ${diff.status.recorded} → ${diff.status.replayed}`);
  if (diff.answer)
    lines.push(`answer: ${shown(diff.answer.recorded ?? null)} → ${shown(diff.answer.replayed ?? null)}`);
  else lines.push(`answer: as recorded${recorded.answer === undefined ? "" : ` (${shown(recorded.answer)})`}`);
  return lines;
}
