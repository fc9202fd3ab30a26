import { CallStatus, ErrorCode, type ErrorBody, type ExecCall, type ToolCallRecord } from "@toolformer/protocol";

/** How one run of a tool ended, before it is turned into the record and event the others see. */
export type Outcome =
  /** `cached`: the result came from the result cache, not from running the tool. */
  | { kind: "succeeded"; result: unknown; cached?: boolean }
  | { kind: "failed"; error: ErrorBody }
  | { kind: "timeout"; message: string }
  | { kind: "cancelled"; message: string };

export function recordOf(call: ExecCall, outcome: Outcome, startedAt: number | null, endedAt: number): ToolCallRecord {
  const base = {
    id: call.callId,
    tool: call.tool,
    args: call.args,
    round: call.round,
    startedAt,
    durationMs: startedAt === null ? 0 : Math.max(0, endedAt - startedAt),
    speculative: call.speculative,
  };
  switch (outcome.kind) {
    case "succeeded":
      return {
        ...base,
        status: CallStatus.succeeded,
        result: outcome.result,
        ...(outcome.cached ? { cached: true } : {}),
      };
    case "failed":
      return { ...base, status: CallStatus.failed, error: outcome.error };
    case "timeout":
      return { ...base, status: CallStatus.timeout, error: { code: ErrorCode.TIMEOUT, message: outcome.message } };
    case "cancelled":
      return { ...base, status: CallStatus.cancelled, error: { code: ErrorCode.CANCELLED, message: outcome.message } };
  }
}
