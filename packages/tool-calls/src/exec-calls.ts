import { MESSAGE_IDS, INTERNAL_SUBJECTS, type ExecCall } from "@toolformer/protocol";
import { type ActorContext } from "@toolformer/runtime";
import { publishStored, retryUntil } from "@toolformer/runtime";
import { encodeInternal, internalHeaders } from "@toolformer/runtime";

/**
 * Hands a call to whichever executor hosts its tool. The message id is the call's, so publishing the
 * same call again inside the duplicate window (a redelivered round, a claimed speculative call, a try
 * after a timeout while the stream elected a leader) is dropped. Tried again until the call's deadline.
 */
export async function publishExec(ctx: Pick<ActorContext, "js">, exec: ExecCall): Promise<void> {
  await publishStored(ctx.js, INTERNAL_SUBJECTS.exec(exec.tool), encodeInternal(exec), {
    msgID: MESSAGE_IDS.exec(exec.requestId, exec.callId),
    headers: internalHeaders(exec),
    giveUpAt: retryUntil(exec.deadline),
  });
}
