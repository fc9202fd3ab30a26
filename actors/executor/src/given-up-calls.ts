import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  ErrorCode,
  ExecCallSchema,
  maxDeliveriesAdvisory,
  QUEUE_GROUPS,
  STREAMS,
  type ExecCall,
  type ToolCallRecord,
} from "@toolformer/protocol";
import { decodeValidated, MIN_RETRY_WINDOW_MS, untilStored, type Logger } from "@toolformer/runtime";
import type { JetStreamManager } from "@nats-io/jetstream";
import { z } from "zod";
import { recordOf } from "./outcome.ts";

/** The part of JetStream's max-deliveries advisory this reads. */
const AdvisorySchema = z.object({ stream_seq: z.int().min(1), deliveries: z.int().min(1) });

/** What was recorded for a call JetStream stopped delivering, so its round is not left waiting. */
export function givenUpRecord(call: ExecCall, deliveries: number, now: number): ToolCallRecord {
  return recordOf(
    call,
    {
      kind: "failed",
      error: {
        code: ErrorCode.TOOL_FAILED,
        message: `gave up after ${deliveries} deliveries: every executor that took the call stopped before finishing it (crashed, killed or stalled)`,
      },
    },
    null,
    now,
  );
}

/**
 * Fails the calls JetStream gives up on (`MaxDeliver` reached): one executor copy (queue group) reads
 * the call from the stream, publishes its failed result unless one exists, and removes it.
 */
export function failGivenUpCalls(
  nc: NatsConnection,
  jsm: JetStreamManager,
  deps: {
    hasResult(call: ExecCall): Promise<boolean>;
    publishResult(call: ExecCall, record: ToolCallRecord): Promise<void>;
  },
  log: Logger,
): Subscription {
  return nc.subscribe(maxDeliveriesAdvisory(STREAMS.exec.name), {
    queue: QUEUE_GROUPS.executor,
    callback: (_error, msg) => {
      void (async () => {
        const advisory = AdvisorySchema.safeParse(msg.json());
        if (!advisory.success) return;
        // Read again while the stream has no leader: the advisory comes once, and a call left unfailed
        // keeps its round waiting until the deadline.
        const retry = { giveUpAt: Date.now() + MIN_RETRY_WINDOW_MS };
        const stored = await untilStored(
          () => jsm.streams.getMessage(STREAMS.exec.name, { seq: advisory.data.stream_seq }),
          retry,
        );
        if (!stored) return;
        const decoded = decodeValidated(stored.data, stored.header, ExecCallSchema);
        if (decoded.ok && !(await deps.hasResult(decoded.value))) {
          await deps.publishResult(decoded.value, givenUpRecord(decoded.value, advisory.data.deliveries, Date.now()));
          log.warn(
            { requestId: decoded.value.requestId, callId: decoded.value.callId },
            "a call was given up after its last delivery",
          );
        }
        await untilStored(() => jsm.streams.deleteMessage(STREAMS.exec.name, advisory.data.stream_seq), retry).catch(
          () => false,
        );
      })().catch((error: unknown) => log.warn({ err: error }, "could not fail a given-up call"));
    },
  });
}
