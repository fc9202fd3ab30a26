import { INTERNAL_SUBJECTS, subjectToken, type ExecCall } from "@toolformer/protocol";
import type { ActorContext } from "./actor.ts";
import { encodeInternal, internalHeaders } from "./wire.ts";

/**
 * Hands a call to whichever executor hosts its tool. The message id is the call's, so publishing the
 * same call again inside the duplicate window (a redelivered round, a claimed speculative call) is dropped.
 */
export async function publishExec(ctx: Pick<ActorContext, "js">, exec: ExecCall): Promise<void> {
  await ctx.js.publish(INTERNAL_SUBJECTS.exec(exec.tool), encodeInternal(exec), {
    msgID: `${subjectToken(exec.requestId)}:${exec.callId}`,
    headers: internalHeaders(exec),
  });
}
