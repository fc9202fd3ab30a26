import {
  CallStatus,
  ErrorCode,
  INTERNAL_SUBJECTS,
  RoundDoneSchema,
  STREAMS,
  subjectToken,
  type OrchestrateRequest,
  type PlannedCall,
  type RequestRun,
  type RoundSubmit,
  type ToolCallRecord,
} from "@toolformer/protocol";
import { decodeValidated, encodeInternal, internalHeaders, type ActorContext } from "@toolformer/runtime";

/** After a cancel, how long to wait for the scheduler's account of the round before writing it ourselves. */
export const ROUND_ABORT_GRACE_MS = 2_500;
/** How often the stored round result is looked up, in case the live message was missed. */
const LOOKUP_INTERVAL_MS = 5_000;

/** Hands a round to the schedulers and waits for their final records of it. */
export class RoundClient {
  readonly #ctx: ActorContext;

  constructor(ctx: ActorContext) {
    this.#ctx = ctx;
  }

  async run(
    run: RequestRun,
    request: OrchestrateRequest,
    round: number,
    calls: PlannedCall[],
    signal: AbortSignal,
  ): Promise<ToolCallRecord[]> {
    const { nc, js, jsm } = this.#ctx;
    const doneSubject = INTERNAL_SUBJECTS.roundDone(run.requestId, round);
    const lookUp = async (): Promise<ToolCallRecord[] | undefined> => {
      const stored = await jsm.streams.getMessage(STREAMS.rounds.name, { last_by_subj: doneSubject }).catch(() => null);
      if (!stored) return undefined;
      const decoded = decodeValidated(stored.data, stored.header, RoundDoneSchema);
      return decoded.ok ? decoded.value.calls : undefined;
    };

    // Subscribe before submitting so the answer cannot slip past; a runner that took over from a dead
    // one may find the round already done.
    const live = nc.subscribe(doneSubject, { max: 1 });
    try {
      const earlier = await lookUp();
      if (earlier) return earlier;
      const submit: RoundSubmit = {
        requestId: run.requestId,
        deadline: run.deadline,
        traceparent: run.traceparent,
        attempt: 1,
        round,
        priority: request.options.priority,
        tenant: request.options.tenant,
        maxParallel: request.options.maxParallel,
        strategy: request.options.strategy,
        calls,
      };
      await js.publish(INTERNAL_SUBJECTS.roundSubmit(run.requestId), encodeInternal(submit), {
        msgID: `${subjectToken(run.requestId)}:submit:${round}`,
        headers: internalHeaders(submit),
      });

      return await new Promise<ToolCallRecord[]>((resolve) => {
        let graceTimer: NodeJS.Timeout | undefined;
        const finish = (records: ToolCallRecord[]) => {
          clearInterval(poll);
          clearTimeout(graceTimer);
          signal.removeEventListener("abort", onAbort);
          resolve(records);
        };
        const poll = setInterval(() => void lookUp().then((records) => records && finish(records)), LOOKUP_INTERVAL_MS);
        const onAbort = () => {
          graceTimer = setTimeout(() => finish(unconfirmed(calls, round, signal.reason)), ROUND_ABORT_GRACE_MS);
        };
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
        void (async () => {
          for await (const msg of live) {
            const decoded = decodeValidated(msg.data, msg.headers, RoundDoneSchema);
            if (decoded.ok) finish(decoded.value.calls);
          }
        })();
      });
    } finally {
      live.unsubscribe();
    }
  }
}

/** Records for a round the scheduler never confirmed after a cancel: none of its calls is reported as succeeded. */
function unconfirmed(calls: PlannedCall[], round: number, reason: unknown): ToolCallRecord[] {
  const timedOut = reason === "timeout";
  return calls.map((call) => ({
    id: call.callId,
    tool: call.tool,
    args: call.args,
    status: timedOut ? CallStatus.timeout : CallStatus.cancelled,
    error: {
      code: timedOut ? ErrorCode.TIMEOUT : ErrorCode.CANCELLED,
      message: "the round was stopped before the scheduler confirmed this call",
    },
    round,
    startedAt: null,
    durationMs: 0,
    speculative: false,
  }));
}
