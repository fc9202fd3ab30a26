import {
  CallResultSchema,
  RoundAddSchema,
  CallStatus,
  CancelReason,
  describeCancel,
  EventType,
  eventForRecord,
  INTERNAL_SUBJECTS,
  STREAMS,
  subjectToken,
  type ExecCall,
  type RoundDone,
  type RoundSubmit,
  type ToolCallRecord,
} from "@toolformer/protocol";
import { DeliverPolicy } from "@nats-io/jetstream";
import {
  ack,
  decodeValidated,
  encodeInternal,
  fitInOneMessage,
  messageBudget,
  packInternal,
  publishCallCancel,
  publishExec,
  type ActorContext,
  type SpeculationLedgerStore,
  type Delivery,
  type Directive,
} from "@toolformer/runtime";
import { RoundState, type ReadyCall } from "./round-state.ts";
import { closeSpeculation, storedResult, takeOver } from "./speculative-calls.ts";

/** After a cancel or the deadline, how long running calls get to report before they are written off. */
export const ABORT_GRACE_MS = 1_500;
/** How often calls in flight are looked up in the results stream, in case a live result was missed. */
export const RECONCILE_INTERVAL_MS = 3_000;

/**
 * Runs one round: hands ready calls to executors, collects their results, applies cancellation and
 * the deadline, and publishes the round's final records. The round message stays unacked until then,
 * so if this scheduler dies another one picks the round up; re-published calls are dropped by the
 * stream's duplicate window and finished calls are read back from the results stream.
 */
export async function runRound(
  submit: RoundSubmit,
  delivery: Delivery,
  ctx: ActorContext,
  ledger: SpeculationLedgerStore,
): Promise<Directive> {
  const log = ctx.log.child({ requestId: submit.requestId, round: submit.round });
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
      const published = ctx.events.publish(eventForRecord(submit.requestId, record), submit.traceparent);
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
      const stored = await storedResult(ctx, submit.requestId, callId);
      if (stored) onRecord(stored);
    }
  };
  const reconcile = setInterval(() => void lookUpFinished(state.awaitedResultIds), RECONCILE_INTERVAL_MS);
  const additions = state.open ? await followAdditions(ctx, submit, state, changed) : undefined;

  try {
    for (const record of state.refused)
      await ctx.events.publish(eventForRecord(submit.requestId, record), submit.traceparent);
    let abortedAt: number | undefined;
    let speculationSettled = false;
    while (!state.done) {
      dirty = false;
      if (stopReason && abortedAt === undefined) {
        abortedAt = Date.now();
        const status = stopReason === CancelReason.timeout ? CallStatus.timeout : CallStatus.cancelled;
        for (const record of state.dropPending(status, describeCancel(stopReason))) {
          await ctx.events.publish(eventForRecord(submit.requestId, record), submit.traceparent);
        }
        // Nothing running: no call to wait for, and an open round takes no more.
        if (state.awaitedResultIds.length === 0) break;
      }
      if (abortedAt === undefined) {
        const { start, failed, cancel } = state.advance();
        for (const record of failed)
          await ctx.events.publish(eventForRecord(submit.requestId, record), submit.traceparent);
        for (const call of cancel) {
          publishCallCancel(ctx.nc, {
            requestId: submit.requestId,
            callId: state.resultIdOf(call.callId),
            tool: call.tool,
            reason: CancelReason.race,
          });
        }
        const mayTakeOver = submit.speculation ? start.filter((ready) => ready.call.toolInfo.idempotent) : [];
        const takenOver = await takeOver(ctx, submit, mayTakeOver, ledger);
        for (const ready of start) {
          const speculative = takenOver.get(ready.call.callId);
          if (!speculative) {
            await dispatch(ctx, submit, ready);
            continue;
          }
          state.adopt(ready.call.callId, speculative.callId, ready.args);
          // A result that landed between the claim and the adoption was not heard live: read it back.
          const finished = speculative.finished ?? (await storedResult(ctx, submit.requestId, speculative.callId));
          if (finished) onRecord(finished);
        }
        // Once the model's calls are all known, speculative calls none of them can take over stop.
        if (submit.speculation && !state.open && !speculationSettled) {
          speculationSettled = true;
          await closeSpeculation(ledger, submit, log, (key, call) => state.mayStillClaim(call.exec.tool, key));
        }
        // On a redelivered round some calls may have finished under the previous scheduler.
        if (delivery.deliveryCount > 1 && start.length > 0) await lookUpFinished(start.map((r) => r.call.callId));
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
      calls: await fittedRecords(ctx, submit.requestId, state.records()),
      ...(state.rejection ? { rejected: state.rejection } : {}),
    };
    const { data, headers } = packInternal(done, submit);
    await ctx.js.publish(INTERNAL_SUBJECTS.roundDone(submit.requestId, submit.round), data, {
      msgID: `${subjectToken(submit.requestId)}:round:${submit.round}`,
      headers,
    });
    log.debug({ calls: done.calls.length }, "round done");
    return ack();
  } finally {
    await additions?.close();
    clearTimeout(deadlineTimer);
    clearInterval(reconcile);
    stopListening();
    results.unsubscribe();
  }
}

/** The round's records, with the largest results moved to the object store if together they exceed one message. */
function fittedRecords(ctx: ActorContext, requestId: string, records: ToolCallRecord[]): Promise<ToolCallRecord[]> {
  const size = encodeInternal(records).byteLength;
  return fitInOneMessage(ctx.objectStores.results, requestId, records, size, messageBudget(ctx.nc));
}

/**
 * Calls added to an open round while the model streams, read from the rounds stream in order (so a
 * scheduler that takes the round over after a failover replays them too).
 */
async function followAdditions(
  ctx: ActorContext,
  submit: RoundSubmit,
  state: RoundState,
  changed: () => void,
): Promise<{ close(): Promise<void> }> {
  const consumer = await ctx.js.consumers.get(STREAMS.rounds.name, {
    filter_subjects: INTERNAL_SUBJECTS.roundAdd(submit.requestId, submit.round),
    deliver_policy: DeliverPolicy.All,
  });
  const messages = await consumer.consume();
  const reading = (async () => {
    for await (const msg of messages) {
      const decoded = decodeValidated(msg.data, msg.headers, RoundAddSchema);
      if (!decoded.ok) continue;
      for (const record of state.add(decoded.value.calls)) {
        await ctx.events.publish(eventForRecord(submit.requestId, record), submit.traceparent);
      }
      if (decoded.value.sealTotal !== undefined) state.seal(decoded.value.sealTotal);
      changed();
    }
  })();
  return {
    async close() {
      await messages.close();
      await reading;
    },
  };
}

async function dispatch(ctx: ActorContext, submit: RoundSubmit, { call, args }: ReadyCall): Promise<void> {
  const exec: ExecCall = {
    requestId: submit.requestId,
    callId: call.callId,
    round: submit.round,
    tool: call.tool,
    args,
    attempt: 1,
    deadline: submit.deadline,
    traceparent: submit.traceparent,
    priority: submit.priority,
    tenant: submit.tenant,
    ...(call.toolInfo.timeoutMs === undefined ? {} : { timeoutMs: call.toolInfo.timeoutMs }),
    ...(call.toolInfo.rateLimit === undefined ? {} : { rateLimit: call.toolInfo.rateLimit }),
    speculative: false,
    extraScopes: [],
  };
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
  );
  await publishExec(ctx, exec);
}
