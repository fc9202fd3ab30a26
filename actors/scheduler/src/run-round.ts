import { CallResultSchema, INTERNAL_SUBJECTS, type RoundSubmit, type ToolCallRecord } from "@toolformer/protocol";
import {
  ack,
  decodeValidated,
  drive,
  handBack,
  inSpan,
  traceparentHere,
  type ActorContext,
  type Delivery,
  type Directive,
} from "@toolformer/runtime";
import { type SpeculationLedgerStore } from "@toolformer/speculation-ledger";
import type { ApprovalStore } from "@toolformer/tool-calls";
import { followAdditions } from "./round-additions.ts";
import { roundEffects } from "./round-effects.ts";
import { roundSpanAttributes } from "./round-span.ts";
import { initialRoundState, roundEnd, roundLoop, type RoundEvent } from "./round-loop.ts";
import { turnBatches } from "./turn-batches.ts";

/**
 * Runs one round: drives its machine (`round-loop.ts`), which hands ready calls to executors, collects
 * their results, applies cancellation and the deadline, and publishes the round's final records. The
 * round message stays unacked until then, so if this scheduler dies another one picks the round up
 * (`RoundTakeover`: calls handed out before are not handed out again, and finished ones are read back
 * from the results stream). A stopping scheduler hands the round back at once; its calls run on at the
 * executors.
 */
export function runRound(
  submit: RoundSubmit,
  delivery: Delivery,
  ctx: ActorContext,
  ledger: SpeculationLedgerStore,
  approvals: ApprovalStore,
): Promise<Directive> {
  return inSpan("orchestrate.round", { attributes: roundSpanAttributes(submit, delivery.redelivered) }, () =>
    // The calls it hands out name the round's span as their parent.
    runInSpan({ ...submit, traceparent: traceparentHere(submit.traceparent) }, delivery, ctx, ledger, approvals),
  );
}

async function runInSpan(
  submit: RoundSubmit,
  delivery: Delivery,
  ctx: ActorContext,
  ledger: SpeculationLedgerStore,
  approvals: ApprovalStore,
): Promise<Directive> {
  const log = ctx.log.child({ requestId: submit.requestId, round: submit.round });
  const over = new AbortController();
  const loop = drive(
    roundLoop,
    initialRoundState(submit),
    roundEffects({ ctx, submit, ledger, approvals, log, over: over.signal }),
    {
      onEffectFailed: (command, error): RoundEvent => {
        log.warn({ err: error, step: command.kind }, "a step of the round failed");
        return { type: "effectFailed", command, error };
      },
    },
  );
  // Started before the live sources are heard: what the start commands is published only after this
  // function yields, so no result of a call it hands out can come before the subscription.
  loop.emit({ type: "started", takeover: delivery.redelivered });
  // Results heard in one turn of the event loop (a wide round's, which end together) move the round on once.
  const arrived = turnBatches<ToolCallRecord>((records) => loop.emit({ type: "resultsArrived", records }));
  const results = ctx.nc.subscribe(INTERNAL_SUBJECTS.resultsOfRequest(submit.requestId), {
    callback: (_error, msg) => {
      const decoded = decodeValidated(msg.data, msg.headers, CallResultSchema);
      if (decoded.ok) arrived.add(decoded.value.record);
    },
  });
  const stopListening = ctx.cancellations.onCancel(submit.requestId, (reason) =>
    loop.emit({ type: "cancelled", reason }),
  );
  const additions = submit.open
    ? followAdditions(ctx, submit, log, async (added) =>
        loop.emit({ type: "callsAdded", calls: added.calls, sealTotal: added.sealTotal }),
      )
    : undefined;
  const onStopping = () => loop.emit({ type: "stopping" });
  delivery.stopping.addEventListener("abort", onStopping, { once: true });
  if (delivery.stopping.aborted) onStopping();

  try {
    const end = roundEnd(await loop.final);
    switch (end?.kind) {
      case "published":
        return ack();
      case "handedBack":
        log.info("stopping: handed the round back");
        return handBack();
      case "failed":
        throw end.error;
      default:
        throw new Error("the round loop ended without an outcome");
    }
  } finally {
    over.abort();
    delivery.stopping.removeEventListener("abort", onStopping);
    await additions?.close();
    stopListening();
    results.unsubscribe();
    arrived.cancel();
  }
}
