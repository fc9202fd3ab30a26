import type { Subscription } from "@nats-io/transport-node";
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
  type RoundAdd,
  type RoundDone,
  type RoundSubmit,
  type ToolCallRecord,
} from "@toolformer/protocol";
import { decodeValidated, encodeInternal, internalHeaders, type ActorContext } from "@toolformer/runtime";

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
  /** No more calls: submits (or seals) the round and waits for the scheduler's record of every call. */
  finish(calls: PlannedCall[], signal: AbortSignal): Promise<RoundOutcome>;
  /** The model asked for nothing after all: stop listening. */
  discard(): void;
}

/** Hands rounds to the schedulers and waits for their final records. */
export class RoundClient {
  readonly #ctx: ActorContext;

  constructor(ctx: ActorContext) {
    this.#ctx = ctx;
  }

  /** `speculation`: the round's calls may take over speculative calls. */
  async begin(run: RequestRun, request: OrchestrateRequest, round: number, speculation: boolean): Promise<RoundHandle> {
    const { nc, js, jsm } = this.#ctx;
    const key = subjectToken(run.requestId);
    const doneSubject = INTERNAL_SUBJECTS.roundDone(run.requestId, round);
    const lookUp = async (): Promise<RoundOutcome | undefined> => {
      const stored = await jsm.streams.getMessage(STREAMS.rounds.name, { last_by_subj: doneSubject }).catch(() => null);
      if (!stored) return undefined;
      const decoded = decodeValidated(stored.data, stored.header, RoundDoneSchema);
      return decoded.ok ? decoded.value : undefined;
    };
    // Subscribe before anything is submitted so the answer cannot slip past; a runner that took over
    // from a dead one may find the round already done.
    const live = nc.subscribe(doneSubject, { max: 1 });
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
      return js.publish(INTERNAL_SUBJECTS.roundSubmit(run.requestId), encodeInternal(message), {
        msgID: `${key}:submit:${round}`,
        headers: internalHeaders(message),
      });
    };
    const addToRound = (calls: PlannedCall[], sealTotal?: number): Promise<unknown> => {
      const message: RoundAdd = {
        requestId: run.requestId,
        round,
        calls,
        ...(sealTotal === undefined ? {} : { sealTotal }),
      };
      const id = sealTotal === undefined ? calls.map((c) => c.callId).join(",") : "seal";
      return js.publish(INTERNAL_SUBJECTS.roundAdd(run.requestId, round), encodeInternal(message), {
        msgID: `${key}:add:${round}:${id}`,
        headers: internalHeaders(run),
      });
    };

    const handed: PlannedCall[] = [];
    let publishing: Promise<unknown> = Promise.resolve();
    return {
      add(call) {
        if (earlier) return;
        const first = handed.length === 0;
        handed.push(call);
        publishing = publishing.then(() => (first ? submit([call], true) : addToRound([call])));
      },
      async finish(calls, signal) {
        try {
          if (earlier) return earlier;
          await publishing;
          if (handed.length === 0) await submit(calls, false);
          else {
            const rest = calls.filter((call) => !handed.some((h) => h.callId === call.callId));
            await addToRound(rest, calls.length);
          }
          return await waitForDone(live, lookUp, calls, round, signal);
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
): Promise<RoundOutcome> {
  return new Promise<RoundOutcome>((resolve) => {
    let graceTimer: NodeJS.Timeout | undefined;
    const finish = (outcome: RoundOutcome) => {
      clearInterval(poll);
      clearTimeout(graceTimer);
      signal.removeEventListener("abort", onAbort);
      resolve(outcome);
    };
    const poll = setInterval(() => void lookUp().then((records) => records && finish(records)), LOOKUP_INTERVAL_MS);
    const onAbort = () => {
      graceTimer = setTimeout(() => finish({ calls: unconfirmed(calls, round, signal.reason) }), ROUND_ABORT_GRACE_MS);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
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
