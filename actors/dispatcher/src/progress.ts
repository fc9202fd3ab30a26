import type { StoredMsg } from "@nats-io/jetstream";
import {
  MESSAGE_IDS,
  INTERNAL_SUBJECTS,
  RoundAddSchema,
  RoundDoneSchema,
  RoundSubmitSchema,
  STREAMS,
  TurnRecordSchema,
  type PlannedCall,
  type RequestRun,
  type RoundDone,
  type TurnRecord,
} from "@toolformer/protocol";
import {
  decodeValidated,
  lastStored,
  nextStored,
  packInternal,
  publishStored,
  retryUntil,
  type ActorContext,
} from "@toolformer/runtime";
import type { z } from "zod";

/**
 * One request's durable progress in the rounds stream: the model's turns as the dispatcher recorded
 * them, the calls it handed to each round, and the scheduler's record of each round. Whichever
 * dispatcher runs the request reads it to go on from the first step that is not done. Every read and
 * write is retried through leader elections until the request's deadline.
 */
export class RequestProgress {
  readonly #ctx: Pick<ActorContext, "js" | "jsm">;
  readonly #run: Pick<RequestRun, "requestId" | "deadline" | "traceparent">;

  constructor(ctx: Pick<ActorContext, "js" | "jsm">, run: Pick<RequestRun, "requestId" | "deadline" | "traceparent">) {
    this.#ctx = ctx;
    this.#run = run;
  }

  get #requestId(): string {
    return this.#run.requestId;
  }

  get #deadline(): number {
    return this.#run.deadline;
  }

  /**
   * Records a turn before anything acts on it, and returns the turn that stands recorded: this one, or
   * the one recorded first when another dispatcher got there before (the message id keeps one).
   */
  async record(turn: TurnRecord): Promise<TurnRecord> {
    const { data, headers } = packInternal(turn, this.#run);
    const ack = await publishStored(this.#ctx.js, INTERNAL_SUBJECTS.roundTurn(this.#requestId, turn.round), data, {
      msgID: MESSAGE_IDS.roundTurn(this.#requestId, turn.round),
      headers,
      giveUpAt: retryUntil(this.#deadline),
    });
    // A duplicate is this run's own earlier try, or another run's turn: the stored one tells which.
    return ack.duplicate ? ((await this.turn(turn.round)) ?? turn) : turn;
  }

  /** The recorded turn of `round`, if its dispatcher got that far. */
  async turn(round: number): Promise<TurnRecord | undefined> {
    return this.#decoded(await this.#last(INTERNAL_SUBJECTS.roundTurn(this.#requestId, round)), TurnRecordSchema);
  }

  /** The scheduler's record of `round`, if the round is done. */
  async roundDone(round: number): Promise<RoundDone | undefined> {
    return this.#decoded(await this.#last(INTERNAL_SUBJECTS.roundDone(this.#requestId, round)), RoundDoneSchema);
  }

  /**
   * The calls already handed to `round`, in order: its submit and the calls added to it while the model
   * streamed. Empty when the round was never submitted.
   */
  async handed(round: number): Promise<PlannedCall[]> {
    const submit = this.#decoded(await this.#last(INTERNAL_SUBJECTS.roundSubmit(this.#requestId)), RoundSubmitSchema);
    if (!submit || submit.round !== round) return [];
    const calls = [...submit.calls];
    const addSubject = INTERNAL_SUBJECTS.roundAdd(this.#requestId, round);
    for (let seq = 0; ;) {
      const stored = await nextStored(this.#ctx.jsm, STREAMS.rounds.name, addSubject, seq, {
        giveUpAt: retryUntil(this.#deadline),
      });
      if (!stored) return calls;
      seq = stored.seq + 1;
      const add = this.#decoded(stored, RoundAddSchema);
      for (const call of add?.calls ?? []) if (!calls.some((known) => known.callId === call.callId)) calls.push(call);
    }
  }

  #last(subject: string): Promise<StoredMsg | null> {
    return lastStored(this.#ctx.jsm, STREAMS.rounds.name, subject, { giveUpAt: retryUntil(this.#deadline) });
  }

  #decoded<S extends z.ZodType>(stored: StoredMsg | null, schema: S): z.output<S> | undefined {
    if (!stored) return undefined;
    const decoded = decodeValidated(stored.data, stored.header, schema);
    return decoded.ok ? decoded.value : undefined;
  }
}
