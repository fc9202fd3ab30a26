import { z } from "zod";
import { ErrorBodySchema } from "../errors.ts";
import { RequestStatus } from "./reply.ts";
import { CallStatus } from "./tool-call.ts";

export const EventType = {
  requestAccepted: "request.accepted",
  modelRequested: "model.requested",
  modelResponded: "model.responded",
  toolScheduled: "tool.scheduled",
  toolStarted: "tool.started",
  toolCompleted: "tool.completed",
  toolFailed: "tool.failed",
  toolCancelled: "tool.cancelled",
  requestCompleted: "request.completed",
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

const base = { requestId: z.string(), at: z.number() };
const callBase = { ...base, callId: z.string(), tool: z.string(), round: z.int() };

/** Events on `orchestrate.events.<id>`, JSON. Consumers must ignore types they do not know. */
export const OrchestrateEventSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal(EventType.requestAccepted), ...base, model: z.string(), tools: z.array(z.string()) }),
  z.object({ type: z.literal(EventType.modelRequested), ...base, round: z.int() }),
  z.object({
    type: z.literal(EventType.modelResponded),
    ...base,
    round: z.int(),
    toolCalls: z.int(),
    durationMs: z.number(),
  }),
  z.object({ type: z.literal(EventType.toolScheduled), ...callBase, args: z.unknown() }),
  z.object({ type: z.literal(EventType.toolStarted), ...callBase, attempt: z.int(), executor: z.string() }),
  z.object({ type: z.literal(EventType.toolCompleted), ...callBase, durationMs: z.number(), result: z.unknown() }),
  z.object({
    type: z.literal(EventType.toolFailed),
    ...callBase,
    status: z.enum([CallStatus.failed, CallStatus.timeout]),
    error: ErrorBodySchema,
  }),
  z.object({ type: z.literal(EventType.toolCancelled), ...callBase }),
  z.object({
    type: z.literal(EventType.requestCompleted),
    ...base,
    status: z.enum(RequestStatus),
    rounds: z.int(),
    error: ErrorBodySchema.optional(),
  }),
]);
export type OrchestrateEvent = z.infer<typeof OrchestrateEventSchema>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** An event before `at` is stamped by the publisher. */
export type OrchestrateEventDraft = DistributiveOmit<OrchestrateEvent, "at">;
