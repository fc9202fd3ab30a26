import type { MsgHdrs, Subscription } from "@nats-io/transport-node";
import {
  CallStatus,
  ErrorCode,
  INTERNAL_SUBJECTS,
  RoundDoneSchema,
  subjectToken,
  type OrchestrateRequest,
  type PlannedCall,
  type RequestRun,
  type RoundAdd,
  type RoundDone,
  type RoundSubmit,
  type ToolCallRecord,
} from "@toolformer/protocol";
import { decodeValidated, encodeInternal, internalHeaders, untilStored, type ActorContext } from "@toolformer/runtime";
import type { RequestProgress } from "./progress.ts";

/** After a cancel, how long to wait for the scheduler's account of the round before writing it ourselves. */
export const ROUND_ABORT_GRACE_MS = 2_500;
/** How often the stored round result is looked up, in case the live message was missed. */
const LOOKUP_INTERVAL_MS = 5_000;

/** The scheduler's record of every call, and why the plan was refused if it was. */
export type RoundOutcome = Pick<RoundDone, "calls" | "rejected">;

/** One round in the making: calls may be handed over while the model still writes, then it is finished. */
export interface RoundHandle {
  /** Hands one call to the scheduler now; the first opens the round. Publishes stay in call order. */
  add(call: PlannedCall): void;
  /**
   * No more calls: submits (or seals) the round and waits for the scheduler's record of every call;
   * `undefined` when `stopping` fired first (the round goes on, and another dispatcher will wait for it).
   */
  finish(calls: PlannedCall[], signal: AbortSignal, stopping: AbortSignal): Promise<RoundOutcome | undefined>;
  /** The model asked for nothing after all: stop listening. */
  discard(): void;
}

/** Hands rounds to the schedulers and waits for their final records. */
export class RoundClient {
  readonly #ctx: ActorContext;

  constructor(ctx: ActorContext) {
    this.#ctx = ctx;
  }

  /**
   * `speculation`: the round's calls may take over speculative calls. `handed`: calls an earlier
   * dispatcher of the request already handed to this round (they are not published again, and the seal
   * counts them).
   */
  async begin(
    run: RequestRun,
    request: OrchestrateRequest,
    round: number,
    speculation: boolean,
    progress: RequestProgress,
    handed: readonly PlannedCall[] = [],
  ): Promise<RoundHandle> {
    const { nc, js } = this.#ctx;
    const key = subjectToken(run.requestId);
    const stored = (subject: string, data: Uint8Array, msgID: string, headers: MsgHdrs) =>
      untilStored(() => js.publish(subject, data, { msgID, headers }), { giveUpAt: run.deadline });
    // Subscribe before anything is submitted so the answer cannot slip past; a runner that took over
    // from a dead one may find the round already done.
    const live = nc.subscribe(INTERNAL_SUBJECTS.roundDone(run.requestId, round), { max: 1 });
    const lookUp = () => progress.roundDone(round);
    const earlier = await lookUp();

    const submit = (calls: PlannedCall[], open: boolean): Promise<unknown> => {
      const message: RoundSubmit = {
        requestId: run.requestId,
        deadline: run.deadline,
        traceparent: run.traceparent,
        attempt: 1,
        round,
        open,
        priority: request.options.priority,
        tenant: request.options.tenant,
        maxParallel: request.options.maxParallel,
        strategy: request.options.strategy,
        race: request.options.race,
        speculation,
        calls,
      };
      const subject = INTERNAL_SUBJECTS.roundSubmit(run.requestId);
      return stored(subject, encodeInternal(message), `${key}:submit:${round}`, internalHeaders(message));
    };
    const addToRound = (calls: PlannedCall[], sealTotal?: number): Promise<unknown> => {
      const message: RoundAdd = {
        requestId: run.requestId,
        round,
        calls,
        ...(sealTotal === undefined ? {} : { sealTotal }),
      };
      const id = sealTotal === undefined ? calls.map((c) => c.callId).join(",") : "seal";
      const subject = INTERNAL_SUBJECTS.roundAdd(run.requestId, round);
      return stored(subject, encodeInternal(message), `${key}:add:${round}:${id}`, internalHeaders(run));
    };

    const inRound: PlannedCall[] = [...handed];
    let publishing: Promise<unknown> = Promise.resolve();
    return {
      add(call) {
        if (earlier) return;
        const first = inRound.length === 0;
        inRound.push(call);
        publishing = publishing.then(() => (first ? submit([call], true) : addToRound([call])));
      },
      async finish(calls, signal, stopping) {
        try {
          if (earlier) return earlier;
          await publishing;
          if (inRound.length === 0) await submit(calls, false);
          else {
            const rest = calls.filter((call) => !inRound.some((known) => known.callId === call.callId));
            // Calls handed on for a turn that was asked again, and not taken over, are in the round too.
            await addToRound(rest, inRound.length + rest.length);
          }
          return await waitForDone(live, lookUp, calls, round, signal, stopping);
        } finally {
          live.unsubscribe();
        }
      },
      discard() {
        live.unsubscribe();
      },
    };
  }
}

function waitForDone(
  live: Subscription,
  lookUp: () => Promise<RoundOutcome | undefined>,
  calls: PlannedCall[],
  round: number,
  signal: AbortSignal,
  stopping: AbortSignal,
): Promise<RoundOutcome | undefined> {
  return new Promise<RoundOutcome | undefined>((resolve) => {
    let graceTimer: NodeJS.Timeout | undefined;
    const finish = (outcome: RoundOutcome | undefined) => {
      clearInterval(poll);
      clearTimeout(graceTimer);
      signal.removeEventListener("abort", onAbort);
      stopping.removeEventListener("abort", onStopping);
      resolve(outcome);
    };
    const poll = setInterval(
      () =>
        void lookUp().then(
          (records) => records && finish(records),
          () => undefined,
        ),
      LOOKUP_INTERVAL_MS,
    );
    const onAbort = () => {
      graceTimer = setTimeout(() => finish({ calls: unconfirmed(calls, round, signal.reason) }), ROUND_ABORT_GRACE_MS);
    };
    const onStopping = () => finish(undefined);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    if (stopping.aborted) onStopping();
    else stopping.addEventListener("abort", onStopping, { once: true });
    void (async () => {
      for await (const msg of live) {
        const decoded = decodeValidated(msg.data, msg.headers, RoundDoneSchema);
        if (decoded.ok) finish(decoded.value);
      }
    })();
  });
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
