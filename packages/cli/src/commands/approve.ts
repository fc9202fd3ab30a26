import { ApprovalDecision, ApproveMessageSchema, type ApproveMessage } from "@toolformer/protocol";
import { z } from "zod";
import { ExitCode, unavailableExit } from "../exit-codes.ts";
import { connectCliClient } from "../local-credentials.ts";

export interface ApproveOptions {
  requestId: string;
  callId: string;
  deny: boolean;
  reason?: string | undefined;
  /** Arguments to run with instead of the model's, as JSON text (approve only). */
  args?: string | undefined;
}

/**
 * The decision `toolformer approve` sends, or why the command line cannot be one (thrown as the
 * usage error `toUsageError` makes): `--args` must be a JSON object, and goes with an approval only.
 */
export function approveMessage(options: ApproveOptions, toUsageError: (message: string) => Error): ApproveMessage {
  if (options.deny && options.args !== undefined) throw toUsageError("--args goes with an approval, not with --deny");
  let args: unknown;
  if (options.args !== undefined) {
    try {
      args = JSON.parse(options.args);
    } catch {
      throw toUsageError("--args is not JSON");
    }
  }
  const message = ApproveMessageSchema.safeParse({
    callId: options.callId,
    decision: options.deny ? ApprovalDecision.deny : ApprovalDecision.approve,
    ...(options.reason === undefined ? {} : { reason: options.reason }),
    ...(args === undefined ? {} : { args }),
  });
  if (!message.success) throw toUsageError(z.prettifyError(message.error));
  return message.data;
}

/**
 * Approves or denies one call that waits for approval, as the client role (ADR 0024). Exits 0 once the
 * decision is stored, 4 when it is refused (not waiting, already decided, arguments the tool refuses),
 * 3 when no dispatcher answers.
 */
export async function runApproveCommand(requestId: string, message: ApproveMessage): Promise<number> {
  const client = await connectCliClient();
  try {
    const reply = await client.approve(requestId, message);
    if (!reply.ok) {
      console.error(`not applied: ${reply.error.code} ${reply.error.message}`);
      return ExitCode.rejected;
    }
    console.log(
      `${reply.decision === ApprovalDecision.approve ? "approved" : "denied"} ${reply.callId} of ${requestId}`,
    );
    return ExitCode.completed;
  } catch (error) {
    return unavailableExit(error);
  } finally {
    await client.close();
  }
}
