import { z } from "zod";
import { ErrorBodySchema } from "../errors.ts";
import { ToolCallRecordSchema } from "./tool-call.ts";

export const RequestStatus = {
  completed: "completed",
  failed: "failed",
  cancelled: "cancelled",
  timeout: "timeout",
  rejected: "rejected",
} as const;
export type RequestStatus = (typeof RequestStatus)[keyof typeof RequestStatus];

export const UsageSchema = z.object({
  inputTokens: z.int().min(0),
  outputTokens: z.int().min(0),
  totalTokens: z.int().min(0),
  /** The same per model turn, in order. */
  rounds: z
    .array(z.object({ round: z.int().min(1), inputTokens: z.int().min(0), outputTokens: z.int().min(0) }))
    .optional(),
});
export type Usage = z.infer<typeof UsageSchema>;

export const TimingsSchema = z.object({
  acceptedAt: z.number(),
  completedAt: z.number(),
  totalMs: z.number().min(0),
  /** Time spent waiting for the model, summed over rounds. */
  modelMs: z.number().min(0),
  /** Wall time of the tool phases, summed over rounds (parallel calls overlap, so not a sum of calls). */
  toolsMs: z.number().min(0),
});
export type Timings = z.infer<typeof TimingsSchema>;

/** The reply to `orchestrate.request`. A rejected request has no `id` only when none could be read. */
export const OrchestrateReplySchema = z.object({
  id: z.string().optional(),
  status: z.enum(RequestStatus),
  answer: z.string().optional(),
  toolCalls: z.array(ToolCallRecordSchema),
  rounds: z.int().min(0),
  usage: UsageSchema.optional(),
  timings: TimingsSchema,
  error: ErrorBodySchema.optional(),
});
export type OrchestrateReply = z.infer<typeof OrchestrateReplySchema>;
