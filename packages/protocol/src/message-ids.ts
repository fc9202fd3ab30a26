import { hash } from "node:crypto";
import { canonicalJson } from "./canonical.ts";
import { subjectToken } from "./ids.ts";
import type { OrchestrateEventDraft } from "./messages/events.ts";

/**
 * Every `Nats-Msg-Id` the system writes. A stream drops a message whose id it stored in the last two
 * minutes, so each id names exactly one logical message: a publish tried again after a timeout, or
 * published again by a copy that took the work over, is stored once. Ids are per stream: a call's exec
 * message and its result share one, in different streams.
 */
export const MESSAGE_IDS = {
  /** An accepted request queued for a dispatcher. */
  requestRun: (requestId: string) => `${subjectToken(requestId)}:run`,
  /** A round's first message (the round, or the first call of an open round). */
  roundSubmit: (requestId: string, round: number) => `${subjectToken(requestId)}:submit:${round}`,
  /** Calls added to an open round. */
  roundAdd: (requestId: string, round: number, callIds: readonly string[]) =>
    `${subjectToken(requestId)}:add:${round}:${callIds.join(",")}`,
  /** The message that seals an open round. */
  roundSeal: (requestId: string, round: number) => `${subjectToken(requestId)}:add:${round}:seal`,
  /** A model turn's record: the first recorded wins (ADR 0011). */
  roundTurn: (requestId: string, round: number) => `${subjectToken(requestId)}:turn:${round}`,
  /** The scheduler's record of a round. */
  roundDone: (requestId: string, round: number) => `${subjectToken(requestId)}:round:${round}`,
  /** A call handed to the executors. */
  exec: (requestId: string, callId: string) => `${subjectToken(requestId)}:${callId}`,
  /** A call's result. */
  result: (requestId: string, callId: string) => `${subjectToken(requestId)}:${callId}`,
  /** A finished request's transcript for the speculation engine. */
  learn: (requestId: string) => `${subjectToken(requestId)}:learn`,
  /** The copy of a message a stopping copy handed back: one per original (ADR 0012). */
  handBack: (stream: string, streamSequence: number) => `handback:${stream}:${streamSequence}`,
  /**
   * A public event: its request, type and a digest of everything it says except the time it was
   * stamped. The same event published again inside the window (a retry, a round taken over announcing
   * its calls again) is stored once; events that differ in anything but their time never share an id,
   * so none is lost (a second attempt's progress, a second outcome of a call run again).
   */
  event: (event: OrchestrateEventDraft) => {
    // One-shot `hash`: half the CPU of a `createHash` object, the same digest.
    const digest = hash("sha256", canonicalJson(event), "hex").slice(0, 24);
    return `${subjectToken(event.requestId)}:${event.type}:${digest}`;
  },
} as const;
