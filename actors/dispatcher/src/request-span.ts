import { tenantOfRequestId, type OrchestrateReply, type RequestRun } from "@toolformer/protocol";

type Attributes = Record<string, string | number>;

/** What the span of a request's run (`orchestrate.run`) says about it from the start. */
export function requestSpanAttributes(run: Pick<RequestRun, "requestId" | "request" | "attempt">): Attributes {
  const tenant = tenantOfRequestId(run.requestId);
  return {
    "toolformer.request.id": run.requestId,
    "gen_ai.request.model": run.request.model,
    ...(tenant === undefined ? {} : { "toolformer.tenant": tenant }),
  };
}

/** How the request ended, on its span: its status, rounds, and the error code of a failure. */
export function requestSpanEnd(reply: Pick<OrchestrateReply, "status" | "rounds" | "error">): Attributes {
  return {
    "toolformer.request.status": reply.status,
    "toolformer.request.rounds": reply.rounds,
    ...(reply.error ? { "error.type": reply.error.code } : {}),
  };
}
