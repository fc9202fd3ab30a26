import type { CallView, RequestView, TurnView } from "@toolformer/dashboard";

/** A spinner's frames; one is shown per redraw, so it turns while the request runs. */
export const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"] as const;
/** How long a partial result may be in the tree before it is cut (and a line at most the terminal's width). */
const MAX_PROGRESS_CHARS = 60;

const duration = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

const OUTCOME_MARK: Record<NonNullable<CallView["outcome"]>, string> = {
  completed: "✓",
  failed: "✗",
  timeout: "✗",
  cancelled: "⊘",
};

/** A call waits for a person's decision (announced, not decided, not ended). */
const awaitingApproval = (call: CallView) =>
  call.approval !== undefined && call.approval.decision === undefined && call.outcome === undefined;

/** What a call's approval came to, or how long it may still wait; empty for a call that needed none. */
function approvalNote(call: CallView, now: number): string {
  const approval = call.approval;
  if (!approval) return "";
  switch (approval.decision) {
    case "approved":
      return approval.edited ? "approved, arguments edited" : "approved";
    case "denied":
      return "denied";
    case "expired":
      return "approval timed out";
    default:
      return approval.expiresAt === undefined || call.outcome
        ? ""
        : `expires in ${duration(Math.max(0, approval.expiresAt - now))}`;
  }
}

function callLine(call: CallView, now: number, spinner: string): string {
  const waitsForApproval = awaitingApproval(call);
  const mark = call.outcome
    ? OUTCOME_MARK[call.outcome]
    : waitsForApproval
      ? "?"
      : call.startedAt === undefined
        ? "·"
        : spinner;
  const from = call.startedAt ?? call.scheduledAt ?? call.approval?.requestedAt;
  const waiting = waitsForApproval
    ? "awaiting approval"
    : call.startedAt === undefined && call.endedAt === undefined
      ? "waiting"
      : "";
  const time = [waiting, from === undefined ? "" : duration((call.endedAt ?? now) - from)].filter(Boolean).join(" ");
  const notes = [approvalNote(call, now), call.cached ? "cached" : ""].filter(Boolean).join(", ");
  const guess = `${notes ? `  ${notes}` : ""}${call.speculation ? ` (speculative: ${call.speculation})` : ""}`;
  const after = call.dependsOn.length > 0 ? ` after ${call.dependsOn.join(", ")}` : "";
  const outcome =
    call.outcome === "failed" || call.outcome === "timeout"
      ? `  ${call.outcome}: ${call.error ?? ""}`
      : call.outcome === undefined && call.progress !== undefined
        ? `  ~ ${JSON.stringify(call.progress).slice(0, MAX_PROGRESS_CHARS)}`
        : "";
  return `${mark} ${call.tool} [${call.callId}]${after}  ${time}${guess}${outcome}`;
}

function turnLine(turn: TurnView, view: RequestView, now: number, spinner: string): string {
  if (turn.respondedAt === undefined) {
    const mark = view.status === "running" ? spinner : "⊘";
    return `${mark} model turn ${turn.round}  ${duration((view.endedAt ?? now) - turn.requestedAt)}`;
  }
  const calls = turn.toolCalls ? `, ${turn.toolCalls} call${turn.toolCalls === 1 ? "" : "s"}` : "";
  const tokens = turn.inputTokens === undefined ? "" : `, ${turn.inputTokens}/${turn.outputTokens ?? 0} tokens`;
  return `✓ model turn ${turn.round}  ${duration(turn.respondedAt - turn.requestedAt)}${calls}${tokens}`;
}

/**
 * The live tree of one request as `toolformer run` draws it on a terminal: the request, then each model
 * turn with the calls of its round beneath it (spinner while running, then ✓, ✗ or ⊘ and the time),
 * the latest progress of a running call, `$ref` dependencies and speculation, a call's wait for
 * approval (?) and its decision, a result from the cache, and how to decide on the calls that wait. Pure: the caller redraws
 * it with the time and a spinner frame (`tick`), cutting lines to `columns`.
 */
export function renderRequestTree(
  view: RequestView | undefined,
  options: { now: number; tick: number; columns?: number },
): string[] {
  const spinner = SPINNER[options.tick % SPINNER.length]!;
  if (!view) return [`${spinner} waiting for the request to be accepted`];
  const started = view.acceptedAt ?? view.turns[0]?.requestedAt ?? options.now;
  const head = `${view.status === "running" ? spinner : view.status === "completed" ? "✓" : "✗"} ${view.requestId}`;
  const lines = [`${head}  ${view.model ?? ""}  ${view.status}  ${duration((view.endedAt ?? options.now) - started)}`];
  const rounds = [...new Set([...view.turns.map((t) => t.round), ...view.calls.map((c) => c.round)])].sort(
    (a, b) => a - b,
  );
  rounds.forEach((round, i) => {
    const last = i === rounds.length - 1;
    const turn = view.turns.find((t) => t.round === round);
    lines.push(`${last ? "└─" : "├─"} ${turn ? turnLine(turn, view, options.now, spinner) : `round ${round}`}`);
    // In the order the model asked for them (the order their first events came in).
    const calls = view.calls.filter((c) => c.round === round);
    calls.forEach((call, j) => {
      const branch = j === calls.length - 1 ? "└─" : "├─";
      lines.push(`${last ? "   " : "│  "}${branch} ${callLine(call, options.now, spinner)}`);
    });
  });
  if (view.status === "running" && view.calls.some(awaitingApproval))
    lines.push(`? decide: toolformer approve ${view.requestId} <call-id> [--deny] [--reason TEXT]`);
  const columns = options.columns;
  return columns === undefined ? lines : lines.map((line) => ([...line].length > columns ? cut(line, columns) : line));
}

function cut(line: string, columns: number): string {
  return `${[...line].slice(0, Math.max(1, columns - 1)).join("")}…`;
}
