/**
 * Messages between actors (MessagePack). Every one carries the envelope fields, so any log line or
 * span can be tied to its request.
 */
import { z } from "zod";
import {
  OrchestrateRequestSchema,
  RaceGroupsSchema,
  RequestIdSchema,
  RequestOptionsSchema,
  Strategy,
  ToolNameSchema,
} from "./request.ts";
import { CallIdSchema, ToolCallRecordSchema } from "./tool-call.ts";
import { ApprovalPolicySchema, RateLimitSchema, RateLimitScopeSchema } from "./tools.ts";
import { ContentType } from "../codec.ts";
import { isReplySubject } from "../subjects.ts";
import { tenantOfRequestId } from "../ids.ts";
import { ErrorBodySchema } from "../errors.ts";

export const EnvelopeSchema = z.object({
  requestId: z.string(),
  /** Absolute deadline, epoch milliseconds. */
  deadline: z.number(),
  traceparent: z.string(),
  attempt: z.int().min(1),
});
export type Envelope = z.infer<typeof EnvelopeSchema>;

/**
 * What a request's first turn record keeps of it, for a replay (docs/adr/0027): everything but the
 * conversation (`prompt`, `messages`, `system`). A replay never sends the conversation anywhere (its
 * turns are the recorded ones), so the records keep no more of what the client wrote than before.
 */
export const RecordedRequestSchema = z.object({
  id: RequestIdSchema.optional(),
  model: z.string().min(1),
  tools: z.array(ToolNameSchema).optional(),
  options: RequestOptionsSchema,
});
export type RecordedRequest = z.infer<typeof RecordedRequestSchema>;

/** The part of a request its records keep (`RecordedRequestSchema`). */
export function recordedRequest(request: RecordedRequest): RecordedRequest {
  const { id, model, tools, options } = request;
  return { ...(id === undefined ? {} : { id }), model, ...(tools === undefined ? {} : { tools }), options };
}

const RunBaseSchema = EnvelopeSchema.extend({
  /** Inbox of the client waiting for the reply (never another subject: see `isReplySubject`). */
  replyTo: z.string().optional(),
  replyEncoding: z.enum(ContentType),
  acceptedAt: z.number(),
});

/**
 * An accepted request queued for a dispatcher to run (survives a dispatcher's death), or a replay of a
 * finished one (docs/adr/0027). A replay's request has no conversation, so a dispatcher of an earlier
 * release refuses it as malformed rather than asking the model.
 */
export const RequestRunSchema = z
  .union([
    RunBaseSchema.extend({
      /** The client's request; its `id` is the one the client knows (`requestId` is qualified for a tenant's). */
      request: OrchestrateRequestSchema,
      replayOf: z.undefined().optional(),
    }),
    RunBaseSchema.extend({
      /** The replayed request's recorded part, with the replay's own `id` and options (no speculation, no cache). */
      request: RecordedRequestSchema,
      /** The `requestId` of the request replayed: each turn is the one it recorded, and no model is asked. */
      replayOf: z.string(),
    }),
  ])
  .refine(
    (run) => run.replyTo === undefined || isReplySubject(run.replyTo, tenantOfRequestId(run.requestId) !== undefined),
    {
      message: "not an inbox subject",
      path: ["replyTo"],
    },
  );
export type RequestRun = z.infer<typeof RequestRunSchema>;
export type ReplayRun = Extract<RequestRun, { replayOf: string }>;

/** What the scheduler needs to know about a call's tool, resolved from the catalog by the dispatcher. */
export const CallToolInfoSchema = z.object({
  known: z.boolean(),
  /** The tool changes nothing: the call may take over a speculative one, and `hybrid` runs it ahead of order. */
  readOnly: z.boolean().default(false),
  /** Decides nothing in the scheduler (retries are the executor's); schedulers of earlier releases require it. */
  idempotent: z.boolean(),
  timeoutMs: z.int().optional(),
  rateLimit: RateLimitSchema.optional(),
  /** Paths to the arguments the tool's schema marks sensitive (`sensitivePaths`): redacted in events. */
  sensitive: z.array(z.array(z.string())).optional(),
  /** The tool's calls (or those its policy names) wait for approval before they run. */
  approval: ApprovalPolicySchema.optional(),
});

export const PlannedCallSchema = z.object({
  callId: CallIdSchema,
  tool: z.string(),
  args: z.unknown(),
  /** Set when the model's arguments could not be parsed; the call fails without running. */
  argsError: z.string().optional(),
  toolInfo: CallToolInfoSchema,
});
export type PlannedCall = z.infer<typeof PlannedCallSchema>;

/**
 * One round of tool calls, dispatcher -> scheduler. An `open` round was submitted while the model was
 * still writing: more calls follow as RoundAdd messages, the last of which seals it.
 */
export const RoundSubmitSchema = EnvelopeSchema.extend({
  round: z.int().min(1),
  open: z.boolean().default(false),
  priority: z.int().min(0).max(9),
  tenant: z.string(),
  /** The request's own cap on calls running at once; absent: none. */
  maxParallel: z.int().min(1).optional(),
  strategy: z.enum(Strategy),
  race: RaceGroupsSchema.default({}),
  /** Real calls of this round may take over speculative ones (docs/adr/0010). */
  speculation: z.boolean().default(false),
  /** The request's `options.cache`: false bypasses the result cache. */
  cache: z.boolean().default(true),
  calls: z.array(PlannedCallSchema).min(1),
});
export type RoundSubmit = z.infer<typeof RoundSubmitSchema>;

/** More calls for an open round, in order; `sealTotal` (the round's final number of calls) closes it. */
export const RoundAddSchema = z.object({
  requestId: z.string(),
  round: z.int().min(1),
  calls: z.array(PlannedCallSchema),
  sealTotal: z.int().min(1).optional(),
});
export type RoundAdd = z.infer<typeof RoundAddSchema>;

/**
 * What the model answered in one turn, as the dispatcher recorded it before handing the calls on (the
 * last turn, with no calls, before replying). The request's progress is these records and the rounds'
 * RoundDone records: a dispatcher that takes the request over rebuilds the conversation from them and
 * never asks the model again for a recorded turn.
 */
export const TurnRecordSchema = z.object({
  requestId: z.string(),
  round: z.int().min(1),
  text: z.string().optional(),
  /** The calls exactly as the model wrote them (ids and argument text), which the conversation repeats. */
  toolCalls: z.array(z.object({ id: z.string(), name: z.string(), arguments: z.string() })),
  usage: z.object({ inputTokens: z.int().min(0), outputTokens: z.int().min(0) }),
  stopReason: z.string(),
  /** The calls as handed to the scheduler, in the model's order (ids given, references renamed). */
  planned: z.array(PlannedCallSchema),
  /** How long the model took, for the reply's timings. */
  modelMs: z.number().min(0),
  /**
   * The run of the request that asked for the turn (a dispatcher copy and one delivery). A run that
   * finds another run's turn recorded has been superseded: its lease lapsed and another copy goes on.
   */
  recordedBy: z.string().optional(),
  /** Round 1's only: what a replay needs of the request (absent in turns of an earlier release). */
  request: RecordedRequestSchema.optional(),
});
export type TurnRecord = z.infer<typeof TurnRecordSchema>;

/** The scheduler's final record of every call in a round, scheduler -> dispatcher. */
export const RoundDoneSchema = z.object({
  requestId: z.string(),
  round: z.int().min(1),
  calls: z.array(ToolCallRecordSchema),
  /** Set when the plan was refused as a whole (CYCLE_DETECTED, INVALID_REQUEST): the request fails with it. */
  rejected: ErrorBodySchema.optional(),
});
export type RoundDone = z.infer<typeof RoundDoneSchema>;

/** One tool call for an executor, scheduler -> executor. */
export const ExecCallSchema = EnvelopeSchema.extend({
  callId: CallIdSchema,
  round: z.int().min(1),
  tool: z.string(),
  args: z.unknown(),
  priority: z.int().min(0).max(9),
  tenant: z.string(),
  timeoutMs: z.int().optional(),
  rateLimit: RateLimitSchema.optional(),
  /** Started by the speculation engine: no tool events are published for it (it is not the model's call). */
  speculative: z.boolean().default(false),
  /** Scopes the call waits for besides its tool's own (the speculation budgets). */
  extraScopes: z.array(RateLimitScopeSchema).default([]),
  /** `false`: the request's `options.cache` bypasses the result cache (the call runs, nothing is stored). */
  cache: z.boolean().optional(),
});
export type ExecCall = z.infer<typeof ExecCallSchema>;

/** One call's outcome, executor -> scheduler. */
export const CallResultSchema = z.object({
  requestId: z.string(),
  record: ToolCallRecordSchema,
});
export type CallResult = z.infer<typeof CallResultSchema>;

/** A request's idempotency record in KV. */
export const RequestRecordSchema = z.discriminatedUnion("state", [
  z.object({ state: z.literal("running"), acceptedAt: z.number(), deadline: z.number() }),
  z.object({
    state: z.literal("finished"),
    reply: z.unknown(),
    /** The inbox the runner sent the reply to: a front door whose retried queue write met a copy knows whose it was. */
    repliedTo: z.string().optional(),
  }),
]);
export type RequestRecord = z.infer<typeof RequestRecordSchema>;
