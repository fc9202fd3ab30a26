import {
  RequestStatus,
  type ErrorBody,
  type OrchestrateReply,
  type ToolCallRecord,
  type Usage,
} from "@toolformer/protocol";

/** A request refused at the door: nothing ran, the error says why. */
export function rejectedReply(error: ErrorBody, id: string | undefined, now: number): OrchestrateReply {
  return {
    ...(id === undefined ? {} : { id }),
    status: RequestStatus.rejected,
    toolCalls: [],
    rounds: 0,
    timings: { acceptedAt: now, completedAt: now, totalMs: 0, modelMs: 0, toolsMs: 0 },
    error,
  };
}

export interface LoopOutcome {
  status: Exclude<RequestStatus, "rejected">;
  answer?: string;
  error?: ErrorBody;
  toolCalls: ToolCallRecord[];
  rounds: number;
  usage: Usage;
  modelMs: number;
  toolsMs: number;
}

export function finalReply(
  id: string,
  outcome: LoopOutcome,
  acceptedAt: number,
  completedAt: number,
): OrchestrateReply {
  return {
    id,
    status: outcome.status,
    ...(outcome.answer === undefined ? {} : { answer: outcome.answer }),
    toolCalls: outcome.toolCalls,
    rounds: outcome.rounds,
    usage: outcome.usage,
    timings: {
      acceptedAt,
      completedAt,
      totalMs: completedAt - acceptedAt,
      modelMs: outcome.modelMs,
      toolsMs: outcome.toolsMs,
    },
    ...(outcome.error === undefined ? {} : { error: outcome.error }),
  };
}

/** The id a client sent, read leniently from a body that failed validation, so its rejection can name it. */
export function readableId(raw: unknown): string | undefined {
  if (typeof raw !== "object" || raw === null || !("id" in raw)) return undefined;
  const id = (raw as { id: unknown }).id;
  return typeof id === "string" && id.length <= 128 ? id : undefined;
}
