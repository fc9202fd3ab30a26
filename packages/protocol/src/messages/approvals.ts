/**
 * Approvals (docs/protocol.md#approvals): a call whose tool asks for one waits, alone, until a client
 * approves or denies it on `orchestrate.approve.<id>`. The decision is kept in KV (`tf_approvals`), one
 * key per call, so it survives the restart of any actor and is applied once.
 */
import { z } from "zod";
import { ErrorBodySchema } from "../errors.ts";
import { subjectToken } from "../ids.ts";
import { CallIdSchema } from "./tool-call.ts";

export const ApprovalDecision = { approve: "approve", deny: "deny" } as const;
export type ApprovalDecision = (typeof ApprovalDecision)[keyof typeof ApprovalDecision];

/** `orchestrate.approve.<id>` (JSON): the decision on one waiting call, matched by its id. */
export const ApproveMessageSchema = z.strictObject({
  callId: CallIdSchema,
  decision: z.enum(ApprovalDecision),
  /** Arguments to run with instead of the model's (approve only); checked against the tool's schema. */
  args: z.record(z.string(), z.unknown()).optional(),
  /** Why: a denial's reason is what the model is told. At most 4 KiB. */
  reason: z.string().max(4096).optional(),
});
export type ApproveMessage = z.infer<typeof ApproveMessageSchema>;

/** The answer to `orchestrate.approve.<id>` (JSON), when the message was sent as a request. */
export const ApproveReplySchema = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), callId: z.string(), decision: z.enum(ApprovalDecision) }),
  z.object({ ok: z.literal(false), error: ErrorBodySchema }),
]);
export type ApproveReply = z.infer<typeof ApproveReplySchema>;

export const ApprovalState = {
  waiting: "waiting",
  approved: "approved",
  denied: "denied",
  /** No decision came within the tool's approval timeout. */
  expired: "expired",
} as const;
export type ApprovalState = (typeof ApprovalState)[keyof typeof ApprovalState];

/**
 * One call's approval in KV (MessagePack). The scheduler creates it `waiting`; the first decision (a
 * client's, or the scheduler's `expired` at the timeout) replaces it by compare-and-set, and nothing
 * changes it after: a second decision is refused, so none is applied twice.
 */
export const ApprovalRecordSchema = z.discriminatedUnion("state", [
  z.object({
    state: z.literal(ApprovalState.waiting),
    tool: z.string(),
    round: z.int().min(1),
    requestedAt: z.number(),
    /** When the call stops waiting (epoch ms): the tool's approval timeout, or the request's deadline. */
    expiresAt: z.number(),
  }),
  z.object({
    state: z.literal(ApprovalState.approved),
    tool: z.string(),
    /** Edited arguments the call runs with; absent: the model's. */
    args: z.record(z.string(), z.unknown()).optional(),
    reason: z.string().optional(),
    decidedAt: z.number(),
  }),
  z.object({
    state: z.literal(ApprovalState.denied),
    tool: z.string(),
    reason: z.string().optional(),
    decidedAt: z.number(),
  }),
  z.object({ state: z.literal(ApprovalState.expired), tool: z.string(), decidedAt: z.number() }),
]);
export type ApprovalRecord = z.infer<typeof ApprovalRecordSchema>;
export type DecidedApproval = Exclude<ApprovalRecord, { state: "waiting" }>;

/** The key of one call's approval in `tf_approvals`. */
export function approvalKey(requestId: string, callId: string): string {
  return `${subjectToken(requestId)}.${callId}`;
}
