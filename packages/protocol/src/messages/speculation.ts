/**
 * Messages of the speculation engine (MessagePack, internal). The dispatcher tells it where each model
 * turn starts (`SpeculationContext`) and, at the end, what the whole request did (`SpeculationTranscript`);
 * the speculative calls of a request and their fate live in one ledger entry in KV (`SpeculationLedger`),
 * which the speculation engine and the schedulers change only by compare-and-set.
 */
import { z } from "zod";
import { ChatMessageSchema } from "./request.ts";
import { CallStatus } from "./tool-call.ts";
import { ToolDefinitionSchema } from "./tools.ts";
import { EnvelopeSchema, ExecCallSchema } from "./internal.ts";

/** One call of a finished round as the predictors see it. */
export const ObservedCallSchema = z.object({
  tool: z.string(),
  args: z.unknown(),
  status: z.enum(CallStatus),
  /** Absent when the call did not succeed or its result was too large to pass along. */
  result: z.unknown().optional(),
});
export type ObservedCall = z.infer<typeof ObservedCallSchema>;

/** A tool the request offers, with what speculation needs to size its budgets. */
export const OfferedToolSchema = z.object({
  definition: ToolDefinitionSchema,
  /** Calls the executors hosting the tool run at once, all together (absent: unknown). */
  capacity: z.int().min(1).optional(),
});
export type OfferedTool = z.infer<typeof OfferedToolSchema>;

/** A model turn is starting: guess its tool calls (dispatcher -> speculation, fire and forget). */
export const SpeculationContextSchema = EnvelopeSchema.extend({
  round: z.int().min(1),
  tenant: z.string(),
  model: z.string(),
  system: z.string().optional(),
  /** The request's messages (a prompt is one user message). */
  messages: z.array(ChatMessageSchema).min(1),
  tools: z.array(OfferedToolSchema),
  /** The rounds so far, in order. */
  previous: z.array(z.array(ObservedCallSchema)),
});
export type SpeculationContext = z.infer<typeof SpeculationContextSchema>;

/** A finished request, for the history model to learn from (dispatcher -> speculation, JetStream). */
export const SpeculationTranscriptSchema = z.object({
  requestId: z.string(),
  tenant: z.string(),
  messages: z.array(ChatMessageSchema).min(1),
  tools: z.array(z.string()),
  rounds: z.array(z.array(ObservedCallSchema)),
  /** The model's last turn answered without tools (so "no calls" after the last round is a fact). */
  answered: z.boolean(),
});
export type SpeculationTranscript = z.infer<typeof SpeculationTranscriptSchema>;

export const SpeculativeCallState = { running: "running", claimed: "claimed", missed: "missed" } as const;
export type SpeculativeCallState = (typeof SpeculativeCallState)[keyof typeof SpeculativeCallState];

/** One speculative call: what was started, by which predictors, and whether a real call claimed it. */
export const SpeculativeCallSchema = z.object({
  state: z.enum(SpeculativeCallState),
  /** The call as the executors were given it (a claim publishes it again, deduplicated, in case it was not). */
  exec: ExecCallSchema,
  predictors: z.array(z.string()),
  confidence: z.number().min(0).max(1),
  startedAt: z.number(),
  /** The model's call that took it over. */
  claimedBy: z.string().optional(),
});
export type SpeculativeCall = z.infer<typeof SpeculativeCallSchema>;

/** All speculative calls of one request, by round and match key (`callMatchKey`). */
export const SpeculationLedgerSchema = z.object({
  /** The request has finished: nothing more is started for it. */
  ended: z.boolean().default(false),
  rounds: z.record(
    z.string(),
    z.object({
      /** The round's real calls are all known: nothing more is started for it, nothing more is claimed. */
      closed: z.boolean(),
      calls: z.record(z.string(), SpeculativeCallSchema),
    }),
  ),
});
export type SpeculationLedger = z.infer<typeof SpeculationLedgerSchema>;
