import { z } from "zod";
import { ErrorBodySchema, ErrorCode } from "../errors.ts";
import { RequestStatus } from "./reply.ts";
import { CallStatus, ResultRefSchema, type ToolCallRecord } from "./tool-call.ts";

export const EventType = {
  requestAccepted: "request.accepted",
  modelRequested: "model.requested",
  modelResponded: "model.responded",
  toolScheduled: "tool.scheduled",
  /** The call waits for a client to approve or deny it on `orchestrate.approve.<id>`; the others run on. */
  toolAwaitingApproval: "tool.awaiting_approval",
  /** The decision on a call that waited: approved (it is scheduled next), denied or expired (it fails). */
  toolApprovalDecided: "tool.approval_decided",
  toolStarted: "tool.started",
  /** A partial result a running tool reported; `seq` counts them from 1 within the call. */
  toolProgress: "tool.progress",
  toolCompleted: "tool.completed",
  toolFailed: "tool.failed",
  toolCancelled: "tool.cancelled",
  requestCompleted: "request.completed",
  /** The speculation engine started a call it expects the model to ask for (not one of the model's calls). */
  speculationStarted: "speculation.started",
  /** One of the model's calls took over a speculative call: reused if finished, adopted if running. */
  speculationHit: "speculation.hit",
  /** No call of the model claimed a speculative call by the end of its round: it was cancelled. */
  speculationMiss: "speculation.miss",
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

const base = { requestId: z.string(), at: z.number() };
const callBase = { ...base, callId: z.string(), tool: z.string(), round: z.int() };
const speculationBase = { ...callBase, predictors: z.array(z.string()) };

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
    usage: z.object({ inputTokens: z.int(), outputTokens: z.int() }).optional(),
  }),
  z.object({
    type: z.literal(EventType.toolScheduled),
    ...callBase,
    args: z.unknown(),
    /** The calls whose results its arguments took (`$ref`); absent when none. */
    dependsOn: z.array(z.string()).optional(),
  }),
  z.object({
    type: z.literal(EventType.toolAwaitingApproval),
    ...callBase,
    /** The arguments to approve (sensitive ones redacted, as in `tool.scheduled`). */
    args: z.unknown(),
    /** When the call stops waiting and fails (epoch ms): the tool's approval timeout, or the deadline. */
    expiresAt: z.number(),
  }),
  z.object({
    type: z.literal(EventType.toolApprovalDecided),
    ...callBase,
    decision: z.enum(["approved", "denied", "expired"]),
    reason: z.string().optional(),
    /** The approver changed the arguments: the call runs with those `tool.scheduled` shows. */
    edited: z.boolean(),
  }),
  z.object({
    type: z.literal(EventType.toolStarted),
    ...callBase,
    attempt: z.int(),
    executor: z.string(),
    /**
     * The limits the call waited for before it started, as scope keys (`concurrency:config:<name>:<tenant>`
     * for a tenant's cap, `tool:<name>`, `concurrency:all`, ...); absent when it waited for none.
     */
    waitedFor: z.array(z.string()).optional(),
  }),
  z.object({ type: z.literal(EventType.toolProgress), ...callBase, seq: z.int().min(1), partial: z.unknown() }),
  z.object({
    type: z.literal(EventType.toolCompleted),
    ...callBase,
    durationMs: z.number(),
    result: z.unknown(),
    resultRef: ResultRefSchema.optional(),
    /** The result came from the result cache, or from an identical call's run it waited for. */
    cached: z.boolean().optional(),
  }),
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
  z.object({
    type: z.literal(EventType.speculationStarted),
    ...speculationBase,
    args: z.unknown(),
    confidence: z.number(),
  }),
  z.object({
    type: z.literal(EventType.speculationHit),
    ...speculationBase,
    /** The speculative call taken over (`callId` is the model's). */
    speculativeCallId: z.string(),
    /** `finished`: its result was there already; `running`: the model's call waits for it. */
    state: z.enum(["finished", "running"]),
  }),
  z.object({
    type: z.literal(EventType.speculationMiss),
    ...speculationBase,
    /** Time since the speculative call was started: at most what it cost, cancelled or finished. */
    wastedMs: z.number().min(0),
  }),
]);
export type OrchestrateEvent = z.infer<typeof OrchestrateEventSchema>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** An event before `at` is stamped by the publisher. */
export type OrchestrateEventDraft = DistributiveOmit<OrchestrateEvent, "at">;

/** The public event that announces a call's outcome, whoever decided it (executor or scheduler). */
export function eventForRecord(requestId: string, record: ToolCallRecord): OrchestrateEventDraft {
  const base = { requestId, callId: record.id, tool: record.tool, round: record.round };
  switch (record.status) {
    case CallStatus.succeeded:
      return {
        type: EventType.toolCompleted,
        ...base,
        durationMs: record.durationMs,
        result: record.result,
        ...(record.resultRef ? { resultRef: record.resultRef } : {}),
        ...(record.cached ? { cached: true } : {}),
      };
    case CallStatus.cancelled:
      return { type: EventType.toolCancelled, ...base };
    case CallStatus.failed:
    case CallStatus.timeout:
      return {
        type: EventType.toolFailed,
        ...base,
        status: record.status,
        error: record.error ?? { code: ErrorCode.TOOL_FAILED, message: "failed" },
      };
  }
}
