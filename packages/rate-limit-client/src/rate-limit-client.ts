import { errors, type NatsConnection } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import {
  ACQUIRE_HOLD_MS,
  AcquireReplySchema,
  ContentType,
  ErrorCode,
  INTERNAL_SUBJECTS,
  rateLimitLineOf,
  TerminalError,
  type AcquireReply,
  type AcquireRequest,
  type PromoteCall,
  type RateLimitFeedback,
} from "@toolformer/protocol";
import { abortable } from "@toolformer/runtime";
import { untilStored } from "@toolformer/runtime";
import { MIN_RETRY_WINDOW_MS, type RetryOptions } from "@toolformer/runtime";
import { contentTypeHeaders, decodeValidated, encodeInternal, internalHeaders } from "@toolformer/runtime";
import { confirmBeforeStart, needsRecount, shortestWindowMs } from "./late-grants.ts";

/** A call's permits, granted. */
export interface Granted {
  /** The scopes whose lines the call waited in, over every time it asked. */
  waitedFor: string[];
  /**
   * To be called as the call starts (its request goes out); later calls do nothing. A grant that reached
   * the caller late, or whose call started late, then has its start counted again, from when a limiter
   * hears of it: after the start (a NATS request sent before it on the same connection goes out first).
   */
  started(): void;
}

/** Past the limiter's longest hold, a missing answer means that limiter is gone: ask another. */
const ACQUIRE_TIMEOUT_MS = ACQUIRE_HOLD_MS + 2_000;
const FEEDBACK_TIMEOUT_MS = 2_000;
const NO_LIMITER_BACKOFF_MS = 200;

/**
 * Waits in the rate limiters' line until every scope admits the call. A limiter holds the request while
 * the call waits its turn; when it lets go without a decision, or dies, the call asks again keeping its
 * place (`since`). Rejects with RATE_LIMITED when no room can be found before the deadline, and with
 * the signal's reason when cancelled. When `stopAsking` fires (the copy is stopping), the question in
 * flight is still waited for (at most the limiter's hold, ACQUIRE_HOLD_MS) so that a grant is never
 * left counted for nobody, but none is asked again: it rejects unless that answer was a grant (the
 * caller then gives the places back). Resolves with the scopes whose lines the call waited in, over
 * every time it asked (shown in the call's `tool.started`), and `started`, for the caller to call as
 * the call starts (its request goes out).
 */
export async function acquirePermits(
  nc: NatsConnection,
  request: Omit<AcquireRequest, "since" | "confirm">,
  signal: AbortSignal,
  stopAsking?: AbortSignal,
): Promise<Granted> {
  const since = Date.now();
  const waitedFor = new Set<string>();
  const granted = (started = () => {}): Granted => ({ waitedFor: [...waitedFor], started });
  let confirmations = 0;
  const stopped = () => new TerminalError(ErrorCode.INTERNAL, "stopped asking for permits: this copy is stopping");
  for (;;) {
    signal.throwIfAborted();
    if (stopAsking?.aborted) throw stopped();
    const sentAt = Date.now();
    const reply = await askLimiter(nc, { ...request, since, confirm: confirmations > 0 }, signal);
    if (reply === undefined) {
      await sleep(NO_LIMITER_BACKOFF_MS, undefined, {
        signal: stopAsking ? AbortSignal.any([signal, stopAsking]) : signal,
      }).catch((error: unknown) => {
        if (!stopAsking?.aborted || signal.aborted) throw error;
      });
      continue;
    }
    if (reply.granted) {
      for (const scope of reply.waitedFor ?? []) waitedFor.add(scope);
      const { countedAgoMs, heldMs } = reply;
      if (countedAgoMs === undefined) return granted();
      // How late the grant is at a moment: its count's age when answered, plus the round trip beyond the
      // hold (the way there came before the count, so this never says less than the truth).
      const lateAt = (moment: number) => countedAgoMs + (moment - sentAt - heldMs);
      if (confirmBeforeStart(lateAt(Date.now()), request.scopes, confirmations, stopAsking?.aborted ?? false)) {
        confirmations++;
        continue;
      }
      // The start is counted again once the call has started: sent as the grant arrived, the recount
      // reached the limiter before starts that a busy caller made tens of ms later (docs/adr/0044).
      let told = false;
      return granted(() => {
        if (told) return;
        told = true;
        const lateMs = lateAt(Date.now());
        if (!needsRecount(lateMs, request.scopes)) return;
        // The recount goes on without the call. It matters until the first count has left the shortest
        // window: one lost before then left the start counted early, and the limit over by one
        // (docs/adr/0036).
        const firstCountLeavesAt = Date.now() - lateMs + shortestWindowMs(request.scopes)!;
        void recount(nc, { ...request, since, confirm: true }, firstCountLeavesAt);
      });
    }
    if (reply.reason === "again") {
      // Held for as long as a limiter holds, in the line of `scope`: waiting for it.
      if (reply.scope !== "") waitedFor.add(reply.scope);
      continue;
    }
    signal.throwIfAborted();
    if (reply.reason === "cancelled") throw new TerminalError(ErrorCode.CANCELLED, "the request was cancelled");
    throw new TerminalError(ErrorCode.RATE_LIMITED, `no room in ${reply.scope} before the deadline`, {
      details: { scope: reply.scope, retryAfterMs: reply.retryAfterMs },
    });
  }
}

/**
 * Has a started call's start counted again from when a limiter hears of it. Asked again while none
 * answers (one restarting, the lines being shared out again) or one lets it go unanswered (stopping),
 * until `giveUpAt`, when counting again can no longer matter. The call's cancel does not stop it: the
 * call has started, and the upstream counts it.
 */
async function recount(nc: NatsConnection, request: AcquireRequest, giveUpAt: number): Promise<void> {
  const untilUseless = AbortSignal.timeout(Math.max(0, giveUpAt - Date.now()));
  while (!untilUseless.aborted) {
    const reply = await askLimiter(nc, request, untilUseless).catch(() => undefined);
    if (reply !== undefined && (reply.granted || reply.reason !== "again")) return;
    await sleep(NO_LIMITER_BACKOFF_MS, undefined, { signal: untilUseless }).catch(() => undefined);
  }
}

/**
 * One round trip to the limiter that owns the call's line, or to any limiter while no copy owns it (the
 * copies are sharing the lines out again); undefined when none answered.
 */
async function askLimiter(
  nc: NatsConnection,
  request: AcquireRequest,
  signal: AbortSignal,
): Promise<AcquireReply | undefined> {
  const ask = (subject: string) =>
    abortable(
      nc.request(subject, encodeInternal(request), { headers: internalHeaders(request), timeout: ACQUIRE_TIMEOUT_MS }),
      signal,
    );
  try {
    const reply = await ask(INTERNAL_SUBJECTS.rateLimitLine(rateLimitLineOf(request.target))).catch(
      (error: unknown) => {
        if (error instanceof errors.RequestError && error.isNoResponders()) {
          return ask(INTERNAL_SUBJECTS.rateLimitAcquire);
        }
        throw error;
      },
    );
    const decoded = decodeValidated(reply.data, reply.headers, AcquireReplySchema);
    return decoded.ok ? decoded.value : undefined;
  } catch (error) {
    signal.throwIfAborted();
    if (error instanceof TerminalError) throw error;
    return undefined; // no limiter answered (none running yet, or one restarting)
  }
}

/**
 * Tells the rate limiters what an admitted acquire really cost, that an upstream said "too many", or
 * that a call gave its concurrency places back. Sent again while no limiter hears it (one restarting)
 * until `retry.giveUpAt` (by default MIN_RETRY_WINDOW_MS from now); every kind of feedback sets a value
 * rather than adding to one, so applying one twice would do no harm. An answer that does not come in
 * time is not asked again: the limiter that took the feedback applies it, however slowly (its state's
 * bucket electing a leader, a backlog), and asking again would only queue the same change behind it.
 */
export async function sendRateLimitFeedback(
  nc: NatsConnection,
  feedback: RateLimitFeedback,
  retry: RetryOptions = { giveUpAt: Date.now() + MIN_RETRY_WINDOW_MS },
): Promise<void> {
  const send = () =>
    nc
      .request(INTERNAL_SUBJECTS.rateLimitFeedback, encodeInternal(feedback), {
        headers: internalHeaders(feedback),
        timeout: FEEDBACK_TIMEOUT_MS,
      })
      .then(
        () => undefined,
        (error: unknown) => {
          if (error instanceof errors.TimeoutError) return undefined;
          throw error;
        },
      );
  await untilStored(send, retry);
}

/** Raises a waiting call's priority at every limiter (fire and forget: a lost one leaves it where it was). */
export function promoteCall(nc: NatsConnection, promotion: PromoteCall): void {
  nc.publish(INTERNAL_SUBJECTS.rateLimitPromote, encodeInternal(promotion), {
    headers: contentTypeHeaders(ContentType.msgpack),
  });
}
