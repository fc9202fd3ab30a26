import {
  CallResultSchema,
  EventType,
  INTERNAL_SUBJECTS,
  STREAMS,
  type RoundSubmit,
  type SpeculativeCall,
  type ToolCallRecord,
} from "@toolformer/protocol";
import {
  decodeValidated,
  lastStored,
  MIN_RETRY_WINDOW_MS,
  retryUntil,
  type ActorContext,
  type Logger,
} from "@toolformer/runtime";
import { promoteCall } from "@toolformer/rate-limit-client";
import { type SpeculationLedgerStore } from "@toolformer/speculation-ledger";
import { publishExec } from "@toolformer/tool-calls";
import { REPUBLISH_WITHIN_MS, scheduledEvent } from "./exec-call.ts";
import type { ReadyCall } from "./round-state.ts";

/**
 * A call's stored result, if its executor published one. Read again while the results stream has no
 * leader, until `deadline` (the request's; MIN_RETRY_WINDOW_MS from now without one); undefined when
 * none could be read, so a caller that cannot tell waits for the live result or looks again later.
 */
export async function storedResult(
  ctx: ActorContext,
  requestId: string,
  callId: string,
  deadline?: number,
): Promise<ToolCallRecord | undefined> {
  const giveUpAt = deadline === undefined ? Date.now() + MIN_RETRY_WINDOW_MS : retryUntil(deadline);
  const stored = await lastStored(ctx.jsm, STREAMS.results.name, INTERNAL_SUBJECTS.result(requestId, callId), {
    giveUpAt,
  }).catch(() => null);
  if (!stored) return undefined;
  const decoded = decodeValidated(stored.data, stored.header, CallResultSchema);
  return decoded.ok ? decoded.value.record : undefined;
}

/** What a call of the model took over: the speculative call, and its record if it had finished. */
export interface TakenOver {
  callId: string;
  finished: ToolCallRecord | undefined;
}

/**
 * The model's calls take over running speculative calls with the same tool and arguments, where there
 * are some (one compare-and-set for the batch): a finished one's result is the call's at once;
 * otherwise the call waits for it. A speculative call still to come is published again (the stream
 * drops the copy if the first publish landed), so a speculation engine that died between registering
 * and publishing it cannot leave the call waiting.
 */
export async function takeOver(
  ctx: ActorContext,
  submit: RoundSubmit,
  ready: ReadyCall[],
  ledger: SpeculationLedgerStore,
): Promise<Map<string, TakenOver>> {
  const taken = new Map<string, TakenOver>();
  if (ready.length === 0) return taken;
  const calls = ready.map(({ call, args }) => ({ tool: call.tool, args, callId: call.callId }));
  const claimed = await ledger.claim(submit.requestId, submit.round, calls, submit.deadline).catch((error: unknown) => {
    ctx.log.warn({ err: error, requestId: submit.requestId }, "could not look for speculative calls; running them");
    return new Map<string, SpeculativeCall>();
  });
  for (const { call, args } of ready) {
    const speculative = claimed.get(call.callId);
    if (!speculative) continue;
    const { exec } = speculative;
    const finished = await storedResult(ctx, submit.requestId, exec.callId, submit.deadline);
    const base = { requestId: submit.requestId, callId: call.callId, tool: call.tool, round: submit.round };
    const retry = { giveUpAt: retryUntil(submit.deadline) };
    await ctx.events.publish(scheduledEvent(submit, { call, args }), submit.traceparent, retry);
    await ctx.events.publish(
      {
        type: EventType.speculationHit,
        ...base,
        predictors: speculative.predictors,
        speculativeCallId: exec.callId,
        state: finished ? "finished" : "running",
      },
      submit.traceparent,
      retry,
    );
    if (!finished) {
      // From now on it is the model's call: if it still waits for permits, it waits at the call's priority.
      promoteCall(ctx.nc, { requestId: submit.requestId, callId: exec.callId, priority: submit.priority });
      if (Date.now() - speculative.startedAt < REPUBLISH_WITHIN_MS) await publishExec(ctx, exec);
    }
    taken.set(call.callId, { callId: exec.callId, finished });
  }
  return taken;
}

/** Speculative calls of the round that no call of the model took over (and none may, by `keep`) are cancelled. */
export async function closeSpeculation(
  ledger: SpeculationLedgerStore,
  submit: RoundSubmit,
  log: Logger,
  keep?: (key: string, call: SpeculativeCall) => boolean,
): Promise<void> {
  await ledger
    .close(submit.requestId, submit.round, submit.traceparent, keep, submit.deadline)
    .catch((error: unknown) => log.warn({ err: error }, "could not close the round's speculation; it runs out"));
}
