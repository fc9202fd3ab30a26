import {
  describeCancel,
  ErrorCode,
  EventType,
  toErrorBody,
  type CancelReason,
  type ExecCall,
  type OrchestrateEventDraft,
  type ToolCallRecord,
} from "@toolformer/protocol";
import { ack, handBack, type Delivery, type Directive, type Logger } from "@toolformer/runtime";
import { abortOutcome, CancelledReason, NotStartedError, TimeoutReason } from "./abort-reasons.ts";
import { recordOf, type Outcome } from "./outcome.ts";
import { withRetries } from "./retries.ts";
import type { ToolInvoker } from "./invokers.ts";

/** What running one call needs from the outside world; injected so the flow is testable without NATS. */
export interface CallDeps {
  executorId: string;
  invoker(tool: string): ToolInvoker | undefined;
  cancelReason(requestId: string): CancelReason | undefined;
  onCancel(requestId: string, listener: (reason: CancelReason) => void): () => void;
  /** Hears a cancel of this one call (a lost race), also when it came before the call arrived. */
  onCallCancel(requestId: string, callId: string, listener: (reason: CancelReason) => void): () => void;
  /** True when an earlier delivery of this call already published its result. */
  hasResult(call: ExecCall): Promise<boolean>;
  /**
   * Waits for the call's permits; resolves to what gives its concurrency places back. After
   * `stopAsking` it asks no more (but still hears the answer in flight, so no grant is left unused).
   */
  acquirePermit(call: ExecCall, signal: AbortSignal, stopAsking: AbortSignal): Promise<() => Promise<void>>;
  /** Publishes one of the call's tool events (none for a speculative call: it is not the model's call). */
  publishEvent(call: ExecCall, event: OrchestrateEventDraft): Promise<void>;
  publishResult(call: ExecCall, record: ToolCallRecord): Promise<void>;
  log: Logger;
}

/**
 * Runs one delivered call: drops it if its request is already cancelled or past its deadline, skips it
 * if a previous delivery finished it (so a redelivered non-idempotent call never runs twice), waits for
 * its rate-limit permit, runs the tool under an AbortSignal tied to cancel and deadline, and publishes
 * the record. Acks once the outcome, whatever it is, has been recorded. When this executor stops
 * (`delivery.stopping`), a call whose tool has not started (waiting for permits or a worker thread) is
 * handed back to another executor at once; one whose tool runs is finished here.
 */
export async function runCall(
  call: ExecCall,
  delivery: Pick<Delivery, "deliveryCount" | "stopping">,
  deps: CallDeps,
): Promise<Directive> {
  const log = deps.log.child({ requestId: call.requestId, callId: call.callId, tool: call.tool });
  const finish = async (outcome: Outcome, startedAt: number | null): Promise<Directive> => {
    await deps.publishResult(call, recordOf(call, outcome, startedAt, Date.now()));
    return ack();
  };

  if (delivery.deliveryCount > 1 && (await deps.hasResult(call))) {
    log.info("already finished by an earlier delivery; not running it again");
    return ack();
  }
  const cancelled = deps.cancelReason(call.requestId);
  if (cancelled) return finish({ kind: "cancelled", message: describeCancel(cancelled) }, null);
  const invoker = deps.invoker(call.tool);
  if (!invoker) {
    return finish(
      { kind: "failed", error: { code: ErrorCode.UNKNOWN_TOOL, message: `this executor does not host ${call.tool}` } },
      null,
    );
  }

  if (call.deadline <= Date.now())
    return finish({ kind: "timeout", message: "the deadline passed before the call could start" }, null);

  const controller = new AbortController();
  const timeOutIn = (ms: number) => setTimeout(() => controller.abort(new TimeoutReason()), ms);
  // Waiting for a permit is bounded by the deadline; the tool's own timeout counts from its start.
  let timer = timeOutIn(call.deadline - Date.now());
  const abortFor = (reason: CancelReason) => controller.abort(new CancelledReason(reason));
  const stopListening = deps.onCancel(call.requestId, abortFor);
  const stopListeningToCall = deps.onCallCancel(call.requestId, call.callId, abortFor);
  let startedAt: number | null = null;
  let releasePlaces = async () => {};
  try {
    if (delivery.stopping.aborted) return handBack();
    releasePlaces = await deps.acquirePermit(call, controller.signal, delivery.stopping);
    // Granted while this copy began to stop: the places go back (finally) and another copy runs it.
    if (delivery.stopping.aborted) return handBack();
    startedAt = Date.now();
    clearTimeout(timer);
    timer = timeOutIn(
      Math.min(call.deadline - startedAt, call.timeoutMs ?? invoker.definition.timeoutMs ?? Number.POSITIVE_INFINITY),
    );
    await deps.publishEvent(call, {
      type: EventType.toolStarted,
      requestId: call.requestId,
      callId: call.callId,
      tool: call.tool,
      round: call.round,
      attempt: delivery.deliveryCount,
      executor: deps.executorId,
    });
    let progressSeq = 0;
    const progress = async (partial: unknown) => {
      if (controller.signal.aborted) return;
      const { requestId, callId, tool, round } = call;
      const event = { type: EventType.toolProgress, requestId, callId, tool, round, seq: ++progressSeq, partial };
      await deps.publishEvent(call, event);
    };
    const result = await withRetries(
      () =>
        invoker.invoke(call.args, {
          signal: controller.signal,
          deadline: call.deadline,
          requestId: call.requestId,
          callId: call.callId,
          attempt: delivery.deliveryCount,
          traceparent: call.traceparent,
          log,
          progress,
        }),
      { idempotent: invoker.definition.idempotent, signal: controller.signal, log },
    );
    // A tool that ignores its signal and returns after being cancelled is still reported as cancelled.
    if (controller.signal.aborted) return await finish(abortOutcome(controller.signal.reason), startedAt);
    return await finish({ kind: "succeeded", result: result ?? null }, startedAt);
  } catch (error) {
    const stoppedWaiting = startedAt === null && delivery.stopping.aborted && !controller.signal.aborted;
    if (stoppedWaiting || error instanceof NotStartedError) return handBack();
    if (controller.signal.aborted) return await finish(abortOutcome(controller.signal.reason), startedAt);
    log.info({ err: error }, "tool failed");
    return await finish({ kind: "failed", error: toErrorBody(error, ErrorCode.TOOL_FAILED) }, startedAt);
  } finally {
    clearTimeout(timer);
    stopListening();
    stopListeningToCall();
    await releasePlaces();
  }
}
