import type { PlannedCall, RoundSubmit } from "@toolformer/protocol";

/** A round of `calls` as the dispatcher submits it, for the scheduler's unit tests. */
export function roundSubmit(calls: PlannedCall[], over: Partial<RoundSubmit> = {}): RoundSubmit {
  return {
    requestId: "r",
    deadline: 1_000_000,
    traceparent: "",
    attempt: 1,
    round: 1,
    priority: 5,
    tenant: "default",
    strategy: "parallel",
    race: {},
    speculation: false,
    cache: true,
    open: false,
    calls,
    ...over,
  };
}
