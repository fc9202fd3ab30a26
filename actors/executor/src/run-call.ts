import type { ExecCall } from "@toolformer/protocol";
import { ack, drive, handBack, lazyChild, type Clock, type Delivery, type Directive } from "@toolformer/runtime";
import type { CallDeps } from "./call-deps.ts";
import { callEffects } from "./call-effects.ts";
import { callEnd, callFlow, initialCallState, type CallEvent } from "./call-flow.ts";

export type { CallDeps } from "./call-deps.ts";

/**
 * Runs one delivered call by driving its machine (`call-flow.ts`): drops it if its request is already
 * cancelled or past its deadline, skips it if a previous delivery finished it (so a redelivered
 * non-idempotent call never runs twice), waits for its rate-limit permit, runs the tool under an
 * AbortSignal tied to cancel, deadline and tool timeout, and publishes the record. Acks once the
 * outcome, whatever it is, has been recorded. When this executor stops (`delivery.stopping`), a call
 * whose tool has not started (waiting for permits or a worker thread) is handed back to another
 * executor; one whose tool runs is finished here. `clock`: for tests.
 */
export async function runCall(
  call: ExecCall,
  delivery: Pick<Delivery, "deliveryCount" | "redelivered" | "stopping">,
  deps: CallDeps,
  clock?: Clock,
): Promise<Directive> {
  const log = lazyChild(deps.log, { requestId: call.requestId, callId: call.callId, tool: call.tool });
  const invoker = deps.invoker(call.tool);
  const effects = callEffects({ call, deliveryCount: delivery.deliveryCount, deps, invoker, log });
  const flow = drive(callFlow, initialCallState(call, delivery, deps.executorId), effects.run, {
    ...(clock ? { clock } : {}),
    onEffectFailed: (command, error): CallEvent => ({ type: "effectFailed", command, error }),
  });
  // Cancels and the stop heard already come in before the delivery, so the first step sees them.
  const stopListening = deps.onCancel(call.requestId, (reason) =>
    flow.emit({ type: "cancelled", reason, of: "request" }),
  );
  const stopListeningToCall = deps.onCallCancel(call.requestId, call.callId, (reason) =>
    flow.emit({ type: "cancelled", reason, of: "call" }),
  );
  const onStopping = () => flow.emit({ type: "stopping" });
  delivery.stopping.addEventListener("abort", onStopping, { once: true });
  if (delivery.stopping.aborted) onStopping();
  flow.emit({ type: "delivered", tool: invoker?.definition });

  try {
    const end = callEnd(await flow.final);
    switch (end?.kind) {
      case "skipped":
      case "recorded":
        return ack();
      case "handedBack":
        log.info("stopping: handed the call back before its tool started");
        return handBack();
      case "failed":
        throw end.error;
      default:
        throw new Error("the call flow ended without an outcome");
    }
  } finally {
    delivery.stopping.removeEventListener("abort", onStopping);
    stopListening();
    stopListeningToCall();
    effects.close();
  }
}
