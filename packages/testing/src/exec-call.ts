import type { ExecCall } from "@toolformer/protocol";

/** A call as a scheduler hands it to an executor (tool `t`, first attempt); fields can be overridden. */
export function execCall(fields: Partial<ExecCall> = {}): ExecCall {
  return {
    requestId: "r",
    callId: "c1",
    deadline: 60_000,
    traceparent: "",
    attempt: 1,
    round: 1,
    tool: "t",
    args: {},
    priority: 5,
    tenant: "default",
    speculative: false,
    extraScopes: [],
    ...fields,
  };
}
