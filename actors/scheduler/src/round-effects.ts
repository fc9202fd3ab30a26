import {
  MESSAGE_IDS,
  ApprovalState,
  CancelReason,
  eventForRecord,
  INTERNAL_SUBJECTS,
  type RoundDone,
  type RoundSubmit,
  type ToolCallRecord,
} from "@toolformer/protocol";
import {
  encodeInternal,
  packInternal,
  publishCallCancel,
  publishStored,
  retryUntil,
  settleAll,
  type ActorContext,
  type Effects,
  type KvFollower,
  type Logger,
  type RetryOptions,
} from "@toolformer/runtime";
import { fitInOneMessage, messageBudget } from "@toolformer/result-store";
import { type SpeculationLedgerStore } from "@toolformer/speculation-ledger";
import { publishExec, type ApprovalStore } from "@toolformer/tool-calls";
import { approvalExpiry, awaitingEvent } from "./approval-policy.ts";
import { execCallOf, scheduledEvent } from "./exec-call.ts";
import type { Adoption, RoundCommand, RoundEvent } from "./round-loop.ts";
import { pipelineInOrder } from "./pipeline.ts";
import type { ReadyCall } from "./round-state.ts";
import { closeSpeculation, storedResult, takeOver } from "./speculative-calls.ts";
import { RoundTakeover } from "./takeover.ts";

export interface RoundWorld {
  ctx: ActorContext;
  submit: RoundSubmit;
  ledger: SpeculationLedgerStore;
  approvals: ApprovalStore;
  log: Logger;
  /** Fires when the run is over: publishes not begun yet are skipped, look-ups stop. */
  over: AbortSignal;
}

/**
 * How the round loop's commands are carried out on NATS. Everything that publishes runs in one chain,
 * in the order commanded, as the hand-written loop did: a call's `tool.scheduled` after the records
 * announced before it, the round's records and a hand-back after every publish before them, and a
 * takeover's reading back before any publish that follows it. Look-ups of stored results run beside it.
 * Calls handed out one after another with nothing commanded between them go out as one batch
 * (`dispatchAll`).
 */
export function roundEffects(world: RoundWorld): Effects<RoundEvent, RoundCommand> {
  const { ctx, submit, ledger, approvals, log, over } = world;
  /** The approvals followed, by call id: each until it is decided or the run is over. */
  const following = new Map<string, Promise<KvFollower>>();
  over.addEventListener("abort", () => {
    for (const follower of following.values()) void follower.then((f) => f.stop());
  });
  // Writes and look-ups are tried again while a stream elects a leader (a node died), until the deadline.
  const retry = (): RetryOptions => ({ giveUpAt: retryUntil(submit.deadline) });
  let takeover: RoundTakeover | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  /** The calls of the batch waiting in the chain, while more may join it. */
  let batch: ReadyCall[] | undefined;
  const enqueue = (work: () => Promise<void> | void): Promise<void> => {
    const run = chain.then(() => (over.aborted ? undefined : work()));
    chain = run.catch(() => undefined);
    return run;
  };
  const inOrder = (work: () => Promise<void> | void): Promise<void> => {
    batch = undefined; // what comes after this work does not join a batch before it
    return enqueue(work);
  };
  // A call that joins a batch answers nothing of its own: a failure of the batch is its first call's.
  const dispatchInBatch = (call: ReadyCall): Promise<void> | undefined => {
    if (batch) return void batch.push(call);
    const calls: ReadyCall[] = [call];
    batch = calls;
    return enqueue(() => {
      if (batch === calls) batch = undefined;
      return dispatchAll(ctx, submit, calls);
    });
  };

  return (command, emit) => {
    switch (command.kind) {
      case "announce":
        // Each record ends another call, so their events need no order among them: a cancel's hundreds of
        // dropped calls cost one round trip, not one each. Whatever is commanded next waits for all of them.
        return inOrder(() =>
          settleAll(
            command.records.map((record) =>
              ctx.events.publish(eventForRecord(submit.requestId, record), submit.traceparent, retry()),
            ),
          ),
        );
      case "dispatch":
        return dispatchInBatch(command.call);
      case "requestApproval":
        return inOrder(async () => {
          const { call } = command.call;
          const now = Date.now();
          const stored = await approvals.request(
            submit.requestId,
            call.callId,
            {
              state: ApprovalState.waiting,
              tool: call.tool,
              round: submit.round,
              requestedAt: now,
              expiresAt: approvalExpiry(call, now, submit.deadline),
            },
            retry(),
          );
          if (stored.state === ApprovalState.waiting) {
            const event = awaitingEvent(submit.requestId, submit.round, command.call, stored.expiresAt);
            await ctx.events.publish(event, submit.traceparent, retry());
            emit({ type: "approvalWaiting", callId: call.callId, expiresAt: stored.expiresAt });
          }
          if (over.aborted || following.has(call.callId)) return;
          const follower = approvals.follow(
            submit.requestId,
            call.callId,
            (record) => {
              void following.get(call.callId)?.then((f) => f.stop());
              emit({ type: "approvalDecided", callId: call.callId, record });
            },
            log,
          );
          following.set(call.callId, follower);
          await follower;
        });
      case "expireApproval":
        return inOrder(async () => {
          const outcome = await approvals.decide(
            submit.requestId,
            command.callId,
            (waiting) => ({ state: ApprovalState.expired, tool: waiting.tool, decidedAt: Date.now() }),
            retry(),
          );
          log.info({ callId: command.callId, outcome: outcome.kind }, "a call's approval timed out");
        });
      case "publishEvent":
        return inOrder(() => ctx.events.publish(command.event, submit.traceparent, retry()));
      case "cancelCall":
        return inOrder(() =>
          publishCallCancel(ctx.nc, {
            requestId: submit.requestId,
            callId: command.callId,
            tool: command.tool,
            reason: CancelReason.race,
          }),
        );
      case "resume":
        return inOrder(async () => {
          takeover ??= new RoundTakeover(ctx, submit, ledger, log);
          const adopted: Adoption[] = [];
          const finished: ToolCallRecord[] = [];
          const fresh = await takeover.resume(command.calls, {
            adopt: (callId, speculativeCallId, args) => adopted.push({ callId, speculativeCallId, args }),
            complete: (record) => finished.push(record),
          });
          emit({ type: "resumed", fresh, adopted, finished });
        });
      case "claimSpeculative":
        return inOrder(async () => {
          const taken = await takeOver(ctx, submit, command.calls, ledger);
          const args = new Map(command.calls.map((ready) => [ready.call.callId, ready.args]));
          emit({
            type: "claimsAnswered",
            taken: [...taken].map(([callId, { callId: speculativeCallId, finished }]) => ({
              callId,
              speculativeCallId,
              args: args.get(callId),
              finished,
            })),
          });
        });
      case "closeSpeculation": {
        const { keep } = command;
        return inOrder(() =>
          closeSpeculation(ledger, submit, log, keep ? (key, call) => keep(call.exec.tool, key) : undefined),
        );
      }
      case "publishDone":
        return inOrder(async () => {
          const done: RoundDone = {
            requestId: submit.requestId,
            round: submit.round,
            calls: await fittedRecords(ctx, submit.requestId, command.records, retry()),
            ...(command.rejected ? { rejected: command.rejected } : {}),
          };
          const { data, headers } = packInternal(done, submit);
          await publishStored(ctx.js, INTERNAL_SUBJECTS.roundDone(submit.requestId, submit.round), data, {
            msgID: MESSAGE_IDS.roundDone(submit.requestId, submit.round),
            headers,
            ...retry(),
          });
          log.debug({ calls: done.calls.length }, "round done");
          emit({ type: "donePublished" });
        });
      case "handBack":
        return inOrder(() => emit({ type: "handedBack" }));
      case "lookUp":
        return (async () => {
          for (const callId of command.resultIds) {
            if (over.aborted) return;
            const stored = await storedResult(ctx, submit.requestId, callId, submit.deadline);
            if (stored) emit({ type: "resultsArrived", records: [stored] });
          }
          emit({ type: "lookedUp", reconcile: command.reconcile });
        })();
    }
  };
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

/**
 * Announces the calls (`tool.scheduled`) and hands them to executors: every announcement sent at once,
 * and each call's exec message as soon as its own `tool.scheduled` is stored (a takeover hands out again
 * no call announced before), in the calls' order; after an announcement that could not be stored, no
 * later call is handed out. A wide batch's first calls start while its last are still being announced,
 * instead of all of them waiting for the slowest announcement. Everything sent is awaited to its end,
 * so a failure leaves no publish of the batch in flight.
 */
function dispatchAll(ctx: ActorContext, submit: RoundSubmit, calls: readonly ReadyCall[]): Promise<void> {
  const retry = { giveUpAt: retryUntil(submit.deadline) };
  return pipelineInOrder(
    calls,
    (ready) => ctx.events.publish(scheduledEvent(submit, ready), submit.traceparent, retry),
    (ready) => publishExec(ctx, execCallOf(submit, ready)),
  );
}
