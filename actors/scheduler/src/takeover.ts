import { DeliverPolicy } from "@nats-io/jetstream";
import { EventType, eventsSubject, STREAMS, type RoundSubmit, type ToolCallRecord } from "@toolformer/protocol";
import {
  decodeValidated,
  deleteOrdered,
  ORDERED_INACTIVE_THRESHOLD_MS,
  lastStored,
  retryUntil,
  settleAll,
  type ActorContext,
  type Logger,
} from "@toolformer/runtime";
import { type SpeculationLedgerStore } from "@toolformer/speculation-ledger";
import { publishExec } from "@toolformer/tool-calls";
import { z } from "zod";
import { execCallOf, REPUBLISH_WITHIN_MS } from "./exec-call.ts";
import type { ReadyCall } from "./round-state.ts";
import { storedResult } from "./speculative-calls.ts";

/** The longest reading a request's events back may take before the takeover fails (and is tried again). */
const READ_EVENTS_TIMEOUT_MS = 10_000;

/** What a scheduler taking a round over does with a call the round would start now. */
export type Resumption =
  /** Never handed out: it goes out as usual. */
  | "dispatch"
  /** It finished while no scheduler held the round: its stored result is its record. */
  | "finished"
  /** Handed out moments ago and not finished: published again (the duplicate window drops the copy). */
  | "republish"
  /** Handed out long ago and not finished: it waits in the exec stream or runs; its result will come. */
  | "wait";

/** Pure: how to resume one call, from its stored result and when it was announced (`tool.scheduled`). */
export function resumptionOf(finished: boolean, scheduledAt: number | undefined, now: number): Resumption {
  if (finished) return "finished";
  if (scheduledAt === undefined) return "dispatch";
  return now - scheduledAt < REPUBLISH_WITHIN_MS ? "republish" : "wait";
}

const ScheduledSchema = z.object({
  type: z.literal(EventType.toolScheduled),
  callId: z.string(),
  round: z.int(),
  at: z.number(),
});

/** What resuming a call changes in the round: a record read back, a speculative call adopted. */
export interface ResumeHooks {
  complete(record: ToolCallRecord): void;
  adopt(callId: string, speculativeCallId: string, args: unknown): void;
}

/**
 * Takes a round over from a scheduler that handed it back or died. The round is rebuilt from its
 * messages, so calls it hands out may have been handed out before: those are never announced or
 * published a second time. A call that finished meanwhile (also while no scheduler held the round)
 * takes its stored result; a running one is waited for; a call served by a speculative call is
 * adopted again (claims are idempotent). Calls never handed out go the usual way.
 */
export class RoundTakeover {
  readonly #ctx: ActorContext;
  readonly #submit: RoundSubmit;
  readonly #ledger: SpeculationLedgerStore;
  readonly #log: Logger;
  #scheduled: Map<string, number> | undefined;

  constructor(ctx: ActorContext, submit: RoundSubmit, ledger: SpeculationLedgerStore, log: Logger) {
    this.#ctx = ctx;
    this.#submit = submit;
    this.#ledger = ledger;
    this.#log = log;
  }

  /** Resumes the calls handed out before; returns the ones never handed out, to go out as usual. */
  async resume(ready: ReadyCall[], hooks: ResumeHooks): Promise<ReadyCall[]> {
    if (ready.length === 0) return ready;
    // Read once: after the takeover, only this scheduler hands calls out, and it remembers them.
    this.#scheduled ??= await this.#readScheduled();
    const scheduled = this.#scheduled;
    const before = ready.filter(({ call }) => scheduled.has(call.callId));
    if (before.length === 0) return ready;
    const { requestId, round, deadline } = this.#submit;
    const speculative = this.#submit.speculation
      ? await this.#ledger
          .claim(
            requestId,
            round,
            before
              .filter(({ call }) => call.toolInfo.readOnly)
              .map(({ call, args }) => ({ tool: call.tool, args, callId: call.callId })),
            deadline,
          )
          .catch(() => new Map<string, never>())
      : new Map<string, never>();
    // Every call's stored result looked up at once (each a message get): a wide round is taken over in a
    // few round trips, not two per call. What each lookup finds is then applied in the calls' order.
    const found = await Promise.all(
      before.map(({ call }) =>
        storedResult(this.#ctx, requestId, speculative.get(call.callId)?.exec.callId ?? call.callId, deadline),
      ),
    );
    const republishing: Promise<unknown>[] = [];
    for (const [index, ready] of before.entries()) {
      const finished = found[index];
      const claimed = speculative.get(ready.call.callId);
      if (claimed) {
        hooks.adopt(ready.call.callId, claimed.exec.callId, ready.args);
        if (finished) hooks.complete(finished);
        else if (Date.now() - claimed.startedAt < REPUBLISH_WITHIN_MS)
          republishing.push(publishExec(this.#ctx, claimed.exec));
        continue;
      }
      switch (resumptionOf(finished !== undefined, scheduled.get(ready.call.callId), Date.now())) {
        case "finished":
          hooks.complete(finished!);
          break;
        case "republish":
          republishing.push(publishExec(this.#ctx, execCallOf(this.#submit, ready)));
          break;
        default:
          break;
      }
    }
    await settleAll(republishing);
    this.#log.info({ resumed: before.length, republished: republishing.length }, "took the round over");
    return ready.filter(({ call }) => !scheduled.has(call.callId));
  }

  /**
   * When each call of the round was announced (`tool.scheduled` in the request's events). Throws when
   * the events cannot be read (the round is then tried again): without them, a call handed out long ago
   * could be handed out twice.
   */
  async #readScheduled(): Promise<Map<string, number>> {
    const scheduled = new Map<string, number>();
    const subject = eventsSubject(this.#submit.requestId);
    const giveUpAt = retryUntil(this.#submit.deadline);
    const last = await lastStored(this.#ctx.jsm, STREAMS.events.name, subject, { giveUpAt });
    if (!last) return scheduled;
    const consumer = await this.#ctx.js.consumers.get(STREAMS.events.name, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.All,
      inactive_threshold: ORDERED_INACTIVE_THRESHOLD_MS,
    });
    const messages = await consumer.consume();
    let readUpTo = 0;
    const timer = setTimeout(() => void messages.close(), READ_EVENTS_TIMEOUT_MS);
    try {
      for await (const msg of messages) {
        readUpTo = msg.seq;
        const event = decodeValidated(msg.data, msg.headers, ScheduledSchema);
        if (event.ok && event.value.round === this.#submit.round) scheduled.set(event.value.callId, event.value.at);
        if (msg.seq >= last.seq) break;
      }
    } finally {
      clearTimeout(timer);
      await messages.close();
      await deleteOrdered(consumer);
    }
    if (readUpTo < last.seq) throw new Error("could not read the request's events back to take the round over");
    return scheduled;
  }
}
