import { z } from "zod";
import { CALL_ID_PATTERN } from "../ids.ts";
import { ErrorBodySchema } from "../errors.ts";
import { CancelReason } from "../headers.ts";

export const CallStatus = {
  succeeded: "succeeded",
  failed: "failed",
  cancelled: "cancelled",
  timeout: "timeout",
} as const;
export type CallStatus = (typeof CallStatus)[keyof typeof CallStatus];

export const CallIdSchema = z.string().regex(CALL_ID_PATTERN);

/** Where a result too large to travel inline is kept: an object of a JetStream Object Store bucket. */
export const ResultRefSchema = z.object({ bucket: z.string(), name: z.string(), bytes: z.int().min(0) });
export type ResultRef = z.infer<typeof ResultRefSchema>;

/** One tool call as the reply reports it. Times are epoch milliseconds. */
export const ToolCallRecordSchema = z.object({
  id: CallIdSchema,
  tool: z.string(),
  args: z.unknown(),
  status: z.enum(CallStatus),
  result: z.unknown().optional(),
  /** Set instead of `result` when the result (JSON) was larger than can travel inline. */
  resultRef: ResultRefSchema.optional(),
  error: ErrorBodySchema.optional(),
  round: z.int().min(1),
  /** When the tool began running; null when it never started (cancelled in queue, unknown tool). */
  startedAt: z.number().nullable(),
  durationMs: z.number().min(0),
  speculative: z.boolean(),
  /** The result came from the result cache (or a concurrent identical call's run), not from running this call. */
  cached: z.boolean().optional(),
});
export type ToolCallRecord = z.infer<typeof ToolCallRecordSchema>;

/** `orchestrate.call.cancel.<tool>`: this call of that tool should stop (JSON; the headers repeat the ids). */
export const CallCancelSchema = z.object({
  requestId: z.string().min(1),
  callId: CallIdSchema,
  tool: z.string().min(1),
  reason: z.enum(CancelReason),
});
export type CallCancel = z.infer<typeof CallCancelSchema>;
