import type { RoundSubmit } from "@toolformer/protocol";

/**
 * What a round's span (`orchestrate.round`) says about it: which request and round, how its calls
 * are scheduled, how many were known when it opened, and whether this scheduler took it over.
 */
export function roundSpanAttributes(
  submit: Pick<RoundSubmit, "requestId" | "round" | "strategy" | "calls" | "open" | "maxParallel">,
  takeover: boolean,
): Record<string, string | number | boolean> {
  return {
    "toolformer.request.id": submit.requestId,
    "toolformer.round": submit.round,
    "toolformer.round.strategy": submit.strategy,
    "toolformer.round.calls_at_open": submit.calls.length,
    "toolformer.round.open": submit.open,
    "toolformer.round.takeover": takeover,
    ...(submit.maxParallel === undefined ? {} : { "toolformer.round.max_parallel": submit.maxParallel }),
  };
}
