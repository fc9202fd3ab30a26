import {
  ApprovalDecision,
  ApprovalState,
  ApproveMessageSchema,
  ContentType,
  encode,
  ErrorCode,
  isReplySubject,
  requestIdFromApproveSubject,
  tenantOfRequestId,
  type ApproveReply,
  type DecidedApproval,
  type ToolDefinition,
} from "@toolformer/protocol";
import { contentTypeHeaders, decodeValidated, MIN_RETRY_WINDOW_MS, type Logger } from "@toolformer/runtime";
import { argumentProblems, type ApprovalStore } from "@toolformer/tool-calls";

/** What an approval message needs to be applied. */
export interface ApprovalDeps {
  approvals: ApprovalStore;
  /** The tools available now, to check edited arguments against the tool's schema. */
  tools: () => ReadonlyMap<string, ToolDefinition>;
  log: Logger;
}

interface ApproveMsg {
  subject: string;
  data: Uint8Array;
  headers?: Parameters<typeof decodeValidated>[1];
  reply?: string;
  respond(data: Uint8Array, opts?: { headers?: ReturnType<typeof contentTypeHeaders> }): boolean;
}

/**
 * `orchestrate.approve.<id>`: applies a client's decision on one waiting call (matched by its call id)
 * and answers when asked, in JSON. The decision is stored before the answer, and only the first one for
 * a call is applied: the scheduler holding the round follows the stored record.
 */
export async function handleApproval(msg: ApproveMsg, deps: ApprovalDeps): Promise<void> {
  const requestId = requestIdFromApproveSubject(msg.subject);
  // Only an inbox (or, for a tenant's request, the server's reply subject) gets an answer.
  const answer = (reply: ApproveReply) => {
    if (msg.reply && isReplySubject(msg.reply, tenantOfRequestId(requestId ?? "") !== undefined))
      msg.respond(encode(reply, ContentType.json), { headers: contentTypeHeaders(ContentType.json) });
  };
  const refuse = (code: ErrorCode, message: string) => answer({ ok: false, error: { code, message } });
  const decoded = decodeValidated(msg.data, msg.headers, ApproveMessageSchema);
  if (!requestId || !decoded.ok)
    return refuse(ErrorCode.INVALID_REQUEST, decoded.ok ? "no request id in the subject" : decoded.error.message);
  const { callId, decision, args, reason } = decoded.value;
  if (decision === ApprovalDecision.deny && args !== undefined)
    return refuse(ErrorCode.INVALID_REQUEST, "a denial carries no arguments");

  const stored = await deps.approvals.get(requestId, callId);
  if (stored?.state !== ApprovalState.waiting)
    return refuse(ErrorCode.APPROVAL_NOT_PENDING, notPending(callId, stored?.state));
  if (args !== undefined) {
    const tool = deps.tools().get(stored.tool);
    if (!tool) return refuse(ErrorCode.UNKNOWN_TOOL, `tool ${stored.tool} is not available to check the arguments`);
    const problems = argumentProblems(tool.parameters)(args);
    if (problems !== undefined) return refuse(ErrorCode.INVALID_ARGUMENTS, `invalid arguments: ${problems}`);
  }

  const outcome = await deps.approvals.decide(
    requestId,
    callId,
    (waiting): DecidedApproval =>
      decision === ApprovalDecision.approve
        ? {
            state: ApprovalState.approved,
            tool: waiting.tool,
            ...(args === undefined ? {} : { args }),
            ...(reason === undefined ? {} : { reason }),
            decidedAt: Date.now(),
          }
        : {
            state: ApprovalState.denied,
            tool: waiting.tool,
            ...(reason === undefined ? {} : { reason }),
            decidedAt: Date.now(),
          },
    { giveUpAt: Date.now() + MIN_RETRY_WINDOW_MS },
  );
  if (outcome.kind !== "applied") {
    const state = outcome.kind === "alreadyDecided" ? outcome.record.state : undefined;
    return refuse(ErrorCode.APPROVAL_NOT_PENDING, notPending(callId, state));
  }
  deps.log.info({ requestId, callId, decision }, "a call's approval was decided");
  answer({ ok: true, callId, decision });
}

function notPending(callId: string, state: ApprovalState | undefined): string {
  return state === undefined
    ? `call ${callId} does not wait for approval`
    : `call ${callId} was already decided: ${state}`;
}
