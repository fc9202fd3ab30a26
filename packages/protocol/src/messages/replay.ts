/**
 * Replay (docs/protocol.md#replay, docs/adr/0027): a finished request runs again from its records on
 * `orchestrate.replay.<id>`, the recorded model turns standing in for the model, against the tools as
 * they are now; the answer compares the two runs. A dry run only shows the recorded timeline.
 */
import { z } from "zod";
import { ErrorBodySchema } from "../errors.ts";
import { RequestStatus } from "./reply.ts";
import { ToolCallRecordSchema } from "./tool-call.ts";

/** `orchestrate.replay.<id>` (JSON; an empty body is `{}`). */
export const ReplayMessageSchema = z.strictObject({
  /** Only answer with the recorded timeline: nothing runs. */
  dryRun: z.boolean().default(false),
});
export type ReplayMessage = z.input<typeof ReplayMessageSchema>;

/** One model turn as the request recorded it. */
export const RecordedTurnSchema = z.object({
  round: z.int().min(1),
  text: z.string().optional(),
  /** The calls as the model wrote them (the argument text unparsed). */
  toolCalls: z.array(z.object({ id: z.string(), name: z.string(), arguments: z.string() })),
  usage: z.object({ inputTokens: z.int().min(0), outputTokens: z.int().min(0) }),
  modelMs: z.number().min(0),
});
export type RecordedTurn = z.infer<typeof RecordedTurnSchema>;

/** A finished request as its records tell it: its turns, every call's record and how it ended. */
export const ReplayTimelineSchema = z.object({
  /** The request's id, as its reply gave it. */
  id: z.string(),
  model: z.string(),
  status: z.enum(RequestStatus),
  answer: z.string().optional(),
  error: ErrorBodySchema.optional(),
  turns: z.array(RecordedTurnSchema),
  /** Every call of every round, in the model's order, as the request's reply had them. */
  toolCalls: z.array(ToolCallRecordSchema),
});
export type ReplayTimeline = z.infer<typeof ReplayTimelineSchema>;

/** What differs in one call: `missing` when only one of the runs has it. */
export const CallChange = {
  status: "status",
  args: "args",
  result: "result",
  error: "error",
  missing: "missing",
} as const;
export type CallChange = (typeof CallChange)[keyof typeof CallChange];

/** One call that differs, matched by its round and its place in the round. */
export const CallDiffSchema = z.object({
  round: z.int().min(1),
  /** The recorded call's id (the replay's when only the replay has the call). */
  callId: z.string(),
  tool: z.string(),
  changed: z.array(z.enum(CallChange)).min(1),
  recorded: ToolCallRecordSchema.optional(),
  replayed: ToolCallRecordSchema.optional(),
});
export type CallDiff = z.infer<typeof CallDiffSchema>;

export const ReplayDiffSchema = z.object({
  /** Nothing below differs. */
  same: z.boolean(),
  calls: z.array(CallDiffSchema),
  /**
   * The first round whose recorded turn the model wrote after results that the replay changed: the
   * replay still uses it as recorded, but the model might now have answered otherwise.
   */
  divergedAt: z.int().min(1).optional(),
  /** Set when the two runs ended differently. */
  status: z.object({ recorded: z.enum(RequestStatus), replayed: z.enum(RequestStatus) }).optional(),
  /** Set when the answers differ (the replay ended elsewhere than the recorded answer). */
  answer: z.object({ recorded: z.string().optional(), replayed: z.string().optional() }).optional(),
});
export type ReplayDiff = z.infer<typeof ReplayDiffSchema>;

/** The answer to `orchestrate.replay.<id>` (JSON). */
export const ReplayReplySchema = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    recorded: ReplayTimelineSchema,
    /** The replay's own request id (absent on a dry run): its events are on `orchestrate.events.<replayId>`. */
    replayId: z.string().optional(),
    /** The replay against the records (absent on a dry run). */
    diff: ReplayDiffSchema.optional(),
  }),
  z.object({ ok: z.literal(false), error: ErrorBodySchema }),
]);
export type ReplayReply = z.infer<typeof ReplayReplySchema>;
