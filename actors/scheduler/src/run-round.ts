import {
  CallResultSchema,
  CallStatus,
  CancelReason,
  describeCancel,
  EventType,
  eventForRecord,
  INTERNAL_SUBJECTS,
  subjectToken,
  type RoundDone,
  type RoundSubmit,
  type ToolCallRecord,
} from "@toolformer/protocol";
import {
  ack,
  decodeValidated,
  handBack,
  encodeInternal,
  packInternal,
  publishCallCancel,
  publishStored,
  retryUntil,
  type ActorContext,
  type RetryOptions,
  type Delivery,
  type Directive,
} from "@toolformer/runtime";
import { fitInOneMessage, messageBudget } from "@toolformer/result-store";
import { type SpeculationLedgerStore } from "@toolformer/speculation-ledger";
import { publishExec } from "@toolformer/tool-calls";
import { execCallOf } from "./exec-call.ts";
import { followAdditions } from "./round-additions.ts";
import { RoundState, type ReadyCall } from "./round-state.ts";
import { closeSpeculation, storedResult, takeOver } from "./speculative-calls.ts";
import { RoundTakeover } from "./takeover.ts";

/** After a cancel or the deadline, how long running calls get to report before they are written off. */
export const ABORT_GRACE_MS = 1_500;
/** How often calls in flight are looked up in the results stream, in case a live result was missed. */
export const RECONCILE_INTERVAL_MS = 3_000;

/**
 * Runs one round: hands ready calls to executors, collects their results, applies cancellation and
 * the deadline, and publishes the round's final records. The round message stays unacked until then,
 * so if this scheduler dies another one picks the round up (`RoundTakeover`: calls handed out before
 * are not handed out again, and finished ones are read back from the results stream). A stopping
 * scheduler hands the round back at once; its calls run on at the executors.
 */
export async function runRound(
  submit: RoundSubmit,
  delivery: Delivery,
  ctx: ActorContext,
  ledger: SpeculationLedgerStore,
): Promise<Directive> {
  const log = ctx.log.child({ requestId: submit.requestId, round: submit.round });
  // Writes and look-ups are tried again while a stream elects a leader (a node died), until the deadline.
  const retry = (): RetryOptions => ({ giveUpAt: retryUntil(submit.deadline) });
  const announce = (record: ToolCallRecord) =>
    ctx.events.publish(eventForRecord(submit.requestId, record), submit.traceparent, retry());
  const state = new RoundState(submit);
  // `dirty` remembers a change that arrives while the loop is busy, so no wake-up is lost.
  let dirty = false;
  let wake: () => void = () => {};
  const changed = () => {
    dirty = true;
    wake();
  };

  // Tool events of calls served by speculation come from here (the executor publishes none for them).
  const adoptedEvents = new Set<Promise<void>>();
  const onRecord = (result: ToolCallRecord) => {
    const record = state.complete(result);
    if (!record) return;
    if (record.speculative) {
      const published = announce(record).catch((error: unknown) =>
        log.warn({ err: error, callId: record.id }, "could not publish the outcome of a call served by speculation"),
      );
      adoptedEvents.add(published);
      void published.finally(() => adoptedEvents.delete(published));
    }
    changed();
  };
  const results = ctx.nc.subscribe(INTERNAL_SUBJECTS.resultsOfRequest(submit.requestId), {
    callback: (_error, msg) => {
      const decoded = decodeValidated(msg.data, msg.headers, CallResultSchema);
      if (decoded.ok) onRecord(decoded.value.record);
    },
  });
  let stopReason: CancelReason | undefined;
  const stopListening = ctx.cancellations.onCancel(submit.requestId, (reason) => {
    stopReason ??= reason;
    changed();
  });
  const deadlineTimer = setTimeout(
    () => {
      stopReason ??= CancelReason.timeout;
      changed();
    },
    Math.max(0, submit.deadline - Date.now()),
  );

  const lookUpFinished = async (callIds: string[]) => {
    for (const callId of callIds) {
      const stored = await storedResult(ctx, submit.requestId, callId, submit.deadline);
      if (stored) onRecord(stored);
    }
  };
  // One look-up at a time: while the results stream has no leader, one can outlast the interval.
  let reconciling: Promise<void> | undefined;
  const reconcile = setInterval(() => {
    reconciling ??= lookUpFinished(state.awaitedResultIds).finally(() => (reconciling = undefined));
  }, RECONCILE_INTERVAL_MS);
  const additions = state.open
    ? followAdditions(ctx, submit, log, async (added) => {
        try {
          for (const record of state.add(added.calls)) await announce(record);
        } finally {
          if (added.sealTotal !== undefined) state.seal(added.sealTotal);
          changed();
        }
      })
    : undefined;
  const takeover = delivery.deliveryCount > 1 ? new RoundTakeover(ctx, submit, ledger, log) : undefined;
  delivery.stopping.addEventListener("abort", changed, { once: true });

  try {
    for (const record of state.refused) await announce(record);
    let abortedAt: number | undefined;
    let speculationSettled = false;
    while (!state.done) {
      dirty = false;
      // Handed back between steps, when every call handed out is published: the next scheduler takes it
      // over. A round already ending after a cancel or the deadline is finished here (the grace is short).
      if (delivery.stopping.aborted && !stopReason) {
        await Promise.all(adoptedEvents);
        log.info("stopping: handed the round back");
        return handBack();
      }
      if (stopReason && abortedAt === undefined) {
        abortedAt = Date.now();
        const status = stopReason === CancelReason.timeout ? CallStatus.timeout : CallStatus.cancelled;
        for (const record of state.dropPending(status, describeCancel(stopReason))) await announce(record);
        // Nothing running: no call to wait for, and an open round takes no more.
        if (state.awaitedResultIds.length === 0) break;
      }
      if (abortedAt === undefined) {
        const { start, failed, cancel } = state.advance();
        for (const record of failed) await announce(record);
        for (const call of cancel) {
          publishCallCancel(ctx.nc, {
            requestId: submit.requestId,
            callId: state.resultIdOf(call.callId),
            tool: call.tool,
            reason: CancelReason.race,
          });
        }
        const fresh = takeover
          ? await takeover.resume(start, {
              complete: onRecord,
              adopt: (callId, speculativeCallId, args) => state.adopt(callId, speculativeCallId, args),
            })
          : start;
        const mayTakeOver = submit.speculation ? fresh.filter((ready) => ready.call.toolInfo.idempotent) : [];
        const takenOver = await takeOver(ctx, submit, mayTakeOver, ledger);
        for (const ready of fresh) {
          const speculative = takenOver.get(ready.call.callId);
          if (!speculative) {
            await dispatch(ctx, submit, ready);
            continue;
          }
          state.adopt(ready.call.callId, speculative.callId, ready.args);
          // A result that landed between the claim and the adoption was not heard live: read it back.
          const finished =
            speculative.finished ?? (await storedResult(ctx, submit.requestId, speculative.callId, submit.deadline));
          if (finished) onRecord(finished);
        }
        // Once the model's calls are all known, speculative calls none of them can take over stop.
        if (submit.speculation && !state.open && !speculationSettled) {
          speculationSettled = true;
          await closeSpeculation(ledger, submit, log, (key, call) => state.mayStillClaim(call.exec.tool, key));
        }
      }
      if (state.done) break;
      const graceLeft = abortedAt === undefined ? undefined : abortedAt + ABORT_GRACE_MS - Date.now();
      if (graceLeft !== undefined && graceLeft <= 0) {
        const status = stopReason === CancelReason.timeout ? CallStatus.timeout : CallStatus.cancelled;
        state.abandonInFlight(status, `${describeCancel(stopReason)}; the executor did not confirm in time`);
        break;
      }
      await new Promise<void>((resolve) => {
        if (dirty) return resolve();
        wake = resolve;
        if (graceLeft !== undefined) setTimeout(resolve, graceLeft);
      });
    }
    if (submit.speculation) await closeSpeculation(ledger, submit, log);
    await Promise.all(adoptedEvents);
    const done: RoundDone = {
      requestId: submit.requestId,
      round: submit.round,
      calls: await fittedRecords(ctx, submit.requestId, state.records(), retry()),
      ...(state.rejection ? { rejected: state.rejection } : {}),
    };
    const { data, headers } = packInternal(done, submit);
    await publishStored(ctx.js, INTERNAL_SUBJECTS.roundDone(submit.requestId, submit.round), data, {
      msgID: `${subjectToken(submit.requestId)}:round:${submit.round}`,
      headers,
      ...retry(),
    });
    log.debug({ calls: done.calls.length }, "round done");
    return ack();
  } finally {
    delivery.stopping.removeEventListener("abort", changed);
    await additions?.close();
    clearTimeout(deadlineTimer);
    clearInterval(reconcile);
    stopListening();
    results.unsubscribe();
  }
}

/** The round's records, with the largest results moved to the object store if together they exceed one message. */
function fittedRecords(
  ctx: ActorContext,
  requestId: string,
  records: ToolCallRecord[],
  retry: RetryOptions,
): Promise<ToolCallRecord[]> {
  const size = encodeInternal(records).byteLength;
  return fitInOneMessage(ctx.objectStores.results, requestId, records, size, messageBudget(ctx.nc), retry);
}

async function dispatch(ctx: ActorContext, submit: RoundSubmit, { call, args }: ReadyCall): Promise<void> {
  const exec = execCallOf(submit, { call, args });
  await ctx.events.publish(
    {
      type: EventType.toolScheduled,
      requestId: submit.requestId,
      callId: call.callId,
      tool: call.tool,
      round: submit.round,
      args,
    },
    submit.traceparent,
    { giveUpAt: retryUntil(submit.deadline) },
  );
  await publishExec(ctx, exec);
}
