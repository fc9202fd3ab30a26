import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  AcquireRequestSchema,
  ContentType,
  INTERNAL_SUBJECTS,
  RateLimitFeedbackSchema,
  rateLimitLineOf,
  type AcquireReply,
  type AcquireRequest,
  type AcquireTarget,
  type RateLimitFeedback,
} from "@toolformer/protocol";
import { contentTypeHeaders, decodeValidated, encodeInternal } from "@toolformer/runtime";

export interface ScriptedLimiter {
  /** Every acquire it was asked, with when. */
  readonly asked: (AcquireRequest & { at: number })[];
  /** Every feedback it heard. */
  readonly feedback: RateLimitFeedback[];
  /** Stops answering (as a copy that left, or whose connection dropped). */
  stop(): void;
}

/**
 * A rate limiter as its callers see one, answering as a test scripts it: on the line of `target` and,
 * like a copy while the lines are shared out again, on the subject any copy serves; feedback is noted
 * and acknowledged. For a caller's behaviour when a real limiter cannot be made to answer so (a grant
 * that reaches it late, a limiter that is gone when it sends the recount).
 */
export async function scriptedLimiter(
  nc: NatsConnection,
  target: AcquireTarget,
  answer: (asked: AcquireRequest) => AcquireReply,
): Promise<ScriptedLimiter> {
  const asked: ScriptedLimiter["asked"] = [];
  const feedback: RateLimitFeedback[] = [];
  const respond = (msg: Msg, value: unknown) => {
    msg.respond(encodeInternal(value), { headers: contentTypeHeaders(ContentType.msgpack) });
  };
  const onAsk = (_error: Error | null, msg: Msg) => {
    const decoded = decodeValidated(msg.data, msg.headers, AcquireRequestSchema);
    if (!decoded.ok) throw new Error(`the caller sent a malformed acquire: ${decoded.error.message}`);
    asked.push({ ...decoded.value, at: Date.now() });
    respond(msg, answer(decoded.value));
  };
  const subscriptions: Subscription[] = [
    nc.subscribe(INTERNAL_SUBJECTS.rateLimitLine(rateLimitLineOf(target)), { callback: onAsk }),
    nc.subscribe(INTERNAL_SUBJECTS.rateLimitAcquire, { callback: onAsk }),
    nc.subscribe(INTERNAL_SUBJECTS.rateLimitFeedback, {
      callback: (_error, msg) => {
        const decoded = decodeValidated(msg.data, msg.headers, RateLimitFeedbackSchema);
        if (decoded.ok) feedback.push(decoded.value);
        respond(msg, { ok: true });
      },
    }),
  ];
  await nc.flush();
  return { asked, feedback, stop: () => subscriptions.forEach((subscription) => subscription.unsubscribe()) };
}
