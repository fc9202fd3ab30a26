import {
  ApprovalState,
  CallStatus,
  ErrorCode,
  EventType,
  type ApprovalPolicy,
  type DecidedApproval,
  type ErrorBody,
  type OrchestrateEventDraft,
  type PlannedCall,
  redactPaths,
} from "@toolformer/protocol";
import { argumentProblems } from "@toolformer/tool-calls";
import type { ReadyCall } from "./round-state.ts";

/** Compiled `when` schemas, by their JSON text: a tool's policy is compiled once per scheduler. */
const matchers = new Map<string, (args: unknown) => boolean>();

function matcherOf(when: Record<string, unknown>): (args: unknown) => boolean {
  const text = JSON.stringify(when);
  let matches = matchers.get(text);
  if (!matches) {
    const problems = argumentProblems(when);
    matches = (args) => problems(args) === undefined;
    matchers.set(text, matches);
  }
  return matches;
}

/**
 * Whether a call, with the arguments it would run with (references replaced), must wait for approval:
 * its tool asks for it, for every call or for those whose arguments its `when` schema accepts.
 */
export function needsApproval(call: PlannedCall, args: unknown): boolean {
  const policy: ApprovalPolicy | undefined = call.toolInfo.approval;
  if (!policy) return false;
  return policy.when === undefined || matcherOf(policy.when)(args);
}

/** When a call asked about `now` stops waiting: its tool's approval timeout, never past the request's deadline. */
export function approvalExpiry(call: PlannedCall, now: number, deadline: number): number {
  const timeoutMs = call.toolInfo.approval?.timeoutMs;
  return timeoutMs === undefined ? deadline : Math.min(deadline, now + timeoutMs);
}

/** `tool.approval_decided` for a call that waited. */
export function decisionEvent(
  requestId: string,
  round: number,
  call: PlannedCall,
  record: DecidedApproval,
): OrchestrateEventDraft {
  const decision = record.state;
  const reason = record.state === ApprovalState.expired ? undefined : record.reason;
  return {
    type: EventType.toolApprovalDecided,
    requestId,
    callId: call.callId,
    tool: call.tool,
    round,
    decision,
    ...(reason === undefined ? {} : { reason }),
    edited: record.state === ApprovalState.approved && record.args !== undefined,
  };
}

/** Why a call that waited ends without running: denied (the approver's reason reaches the model) or expired. */
export function refusalOf(record: Exclude<DecidedApproval, { state: "approved" }>): {
  status: typeof CallStatus.failed | typeof CallStatus.timeout;
  error: ErrorBody;
} {
  if (record.state === ApprovalState.denied)
    return {
      status: CallStatus.failed,
      error: {
        code: ErrorCode.APPROVAL_DENIED,
        message: record.reason ? `denied by the approver: ${record.reason}` : "denied by the approver",
      },
    };
  return { status: CallStatus.timeout, error: { code: ErrorCode.TIMEOUT, message: "no approval came in time" } };
}

/** `tool.awaiting_approval`: the arguments to approve, with those the tool marks sensitive redacted. */
export function awaitingEvent(
  requestId: string,
  round: number,
  { call, args }: ReadyCall,
  expiresAt: number,
): OrchestrateEventDraft {
  return {
    type: EventType.toolAwaitingApproval,
    requestId,
    callId: call.callId,
    tool: call.tool,
    round,
    args: redactPaths(args, call.toolInfo.sensitive ?? []),
    expiresAt,
  };
}
