import type { ExecCall, RoundSubmit } from "@toolformer/protocol";
import type { ReadyCall } from "./round-state.ts";

/** The message that hands a ready call of the round to whichever executor hosts its tool. */
export function execCallOf(submit: RoundSubmit, { call, args }: ReadyCall): ExecCall {
  return {
    requestId: submit.requestId,
    callId: call.callId,
    round: submit.round,
    tool: call.tool,
    args,
    attempt: 1,
    deadline: submit.deadline,
    traceparent: submit.traceparent,
    priority: submit.priority,
    tenant: submit.tenant,
    ...(call.toolInfo.timeoutMs === undefined ? {} : { timeoutMs: call.toolInfo.timeoutMs }),
    ...(call.toolInfo.rateLimit === undefined ? {} : { rateLimit: call.toolInfo.rateLimit }),
    speculative: false,
    extraScopes: [],
  };
}
