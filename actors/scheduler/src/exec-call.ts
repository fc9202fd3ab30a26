import {
  dependenciesOf,
  EventType,
  redactPaths,
  type ExecCall,
  type OrchestrateEventDraft,
  type RoundSubmit,
} from "@toolformer/protocol";
import type { ReadyCall } from "./round-state.ts";

/**
 * A call handed out (or a speculative call claimed) this recently is published again on a takeover: well inside the streams' 2-minute
 * duplicate window, so the copy is dropped if the first publish landed (it covers a scheduler that died
 * between announcing a call and publishing it). One handed out longer ago is not: a copy could be
 * stored as a second call and run twice, and after that long the first publish has surely landed.
 */
export const REPUBLISH_WITHIN_MS = 60_000;

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
    ...(submit.cache ? {} : { cache: false }),
  };
}

/**
 * `tool.scheduled` for a ready call: the arguments it runs with, except those its tool's schema marks
 * sensitive, which are redacted because every client that may read the request's events sees them.
 */
export function scheduledEvent(submit: RoundSubmit, { call, args }: ReadyCall): OrchestrateEventDraft {
  const dependsOn = dependenciesOf(call.args);
  return {
    type: EventType.toolScheduled,
    requestId: submit.requestId,
    callId: call.callId,
    tool: call.tool,
    round: submit.round,
    args: redactPaths(args, call.toolInfo.sensitive ?? []),
    ...(dependsOn.length > 0 ? { dependsOn } : {}),
  };
}
