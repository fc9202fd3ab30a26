import {
  MESSAGE_IDS,
  ContentType,
  encode,
  INTERNAL_SUBJECTS,
  type ChatMessage,
  type ObservedCall,
  type OfferedTool,
  type RequestRun,
  type SpeculationContext,
  type SpeculationTranscript,
  type ToolCallRecord,
  type ToolDefinition,
} from "@toolformer/protocol";
import { packInternal, type ActorContext } from "@toolformer/runtime";
import { type SpeculationLedgerStore } from "@toolformer/speculation-ledger";
import type { RunRequest } from "./conversation.ts";

/** Results larger than this (JSON) are not passed to the predictors: they learn from small results only. */
export const OBSERVED_RESULT_MAX_BYTES = 16 * 1024;

/**
 * What the speculation engine hears about one request: when speculation is on, the start of each model
 * turn with everything seen so far, so it can guess the turn's calls while the model thinks; and, for
 * every request, the transcript at the end for the history model to learn from.
 */
export class SpeculationFeed {
  readonly #ctx: ActorContext;
  readonly #run: RequestRun;
  /** Set when the request speculates. */
  readonly #ledger: SpeculationLedgerStore | undefined;
  readonly #messages: ChatMessage[];
  readonly #rounds: ObservedCall[][] = [];
  #tools: string[] = [];

  constructor(ctx: ActorContext, run: RequestRun, ledger: SpeculationLedgerStore | undefined) {
    this.#ctx = ctx;
    this.#run = run;
    this.#ledger = ledger;
    const { prompt, messages }: RunRequest = run.request;
    this.#messages = prompt === undefined ? (messages ?? []) : [{ role: "user", content: prompt }];
  }

  get speculating(): boolean {
    return this.#ledger !== undefined;
  }

  /** A model turn starts with these tools on offer; `capacityOf` says how many calls of one run at once. */
  turnStarting(round: number, offered: ToolDefinition[], capacityOf: (tool: string) => number | undefined): void {
    this.#tools = offered.map((definition) => definition.name);
    if (!this.#ledger) return;
    const { requestId, deadline, traceparent } = this.#run;
    const request: RunRequest = this.#run.request;
    const tools: OfferedTool[] = offered.map((definition) => {
      const capacity = capacityOf(definition.name);
      return capacity === undefined ? { definition } : { definition, capacity };
    });
    const context: SpeculationContext = {
      requestId,
      deadline,
      traceparent,
      attempt: 1,
      round,
      tenant: request.options.tenant,
      model: request.model,
      ...(request.system === undefined ? {} : { system: request.system }),
      messages: this.#messages,
      tools,
      previous: this.#rounds,
    };
    // Fire and forget: a guess that never arrives costs nothing but the guess, so a context too large
    // to publish (a long history of big results) only means no speculation on this turn.
    try {
      const { data, headers } = packInternal(context, context);
      this.#ctx.nc.publish(INTERNAL_SUBJECTS.speculationPredict, data, { headers });
    } catch (error) {
      this.#ctx.log.warn({ err: error, requestId, round }, "could not hand the turn to the speculation engine");
    }
  }

  roundFinished(records: ToolCallRecord[]): void {
    this.#rounds.push(records.map(observed));
  }

  /** Cancels the request's speculative calls still running and closes its ledger entry (once is enough). */
  async endSpeculation(): Promise<void> {
    const { requestId, traceparent } = this.#run;
    await this.#ledger
      ?.close(requestId, "all", traceparent)
      .catch((error: unknown) =>
        this.#ctx.log.warn({ err: error, requestId }, "could not close the request's speculation; it runs out"),
      );
  }

  /**
   * The request is over (`answered`: its last turn was the model's answer): speculative calls still
   * running are cancelled, and the transcript goes to the history model.
   */
  async finished(answered: boolean): Promise<void> {
    const { requestId } = this.#run;
    await this.endSpeculation();
    // A replay's turns are the replayed request's, which the history model has learned from already.
    if (this.#run.replayOf !== undefined) return;
    const transcript: SpeculationTranscript = {
      requestId,
      tenant: this.#run.request.options.tenant,
      messages: this.#messages,
      tools: this.#tools,
      rounds: this.#rounds,
      answered,
    };
    const { data, headers } = packInternal(transcript, this.#run);
    await this.#ctx.js
      .publish(INTERNAL_SUBJECTS.speculationLearn(requestId), data, {
        msgID: MESSAGE_IDS.learn(requestId),
        headers,
      })
      .catch((error: unknown) => this.#ctx.log.warn({ err: error, requestId }, "could not hand the transcript over"));
  }
}

function observed(record: ToolCallRecord): ObservedCall {
  const small =
    record.status === "succeeded" &&
    record.resultRef === undefined &&
    encode(record.result ?? null, ContentType.json).byteLength <= OBSERVED_RESULT_MAX_BYTES;
  return {
    tool: record.tool,
    args: record.args,
    status: record.status,
    ...(small ? { result: record.result ?? null } : {}),
  };
}
