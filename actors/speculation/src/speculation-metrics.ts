import { Counter, type Registry } from "prom-client";
import { EventType, type OrchestrateEvent } from "@toolformer/protocol";
import { boundedLabel } from "@toolformer/runtime";

const OUTCOME_OF_EVENT: Partial<Record<string, string>> = {
  [EventType.speculationStarted]: "started",
  [EventType.speculationHit]: "hit",
  [EventType.speculationMiss]: "miss",
};

/** Speculative calls as the events tell them (started, hit, miss), the time misses wasted, the fast model's tokens. */
export class SpeculationMetrics {
  readonly #outcomes: Counter<"outcome" | "tool" | "predictor">;
  readonly #wasted: Counter<"tool">;
  readonly #fastModelTokens: Counter<"direction">;
  readonly #tool = boundedLabel();

  constructor(registry: Registry) {
    this.#outcomes = new Counter({
      name: "toolformer_speculation_calls_total",
      help: "Speculative calls, by outcome (started, hit, miss), tool and predictor (a call two predictors agreed on counts for each)",
      labelNames: ["outcome", "tool", "predictor"],
      registers: [registry],
    });
    this.#wasted = new Counter({
      name: "toolformer_speculation_wasted_seconds_total",
      help: "Time speculative calls that missed had been running when they were cancelled or dropped (at most what they cost), by tool",
      labelNames: ["tool"],
      registers: [registry],
    });
    this.#fastModelTokens = new Counter({
      name: "toolformer_speculation_fast_model_tokens_total",
      help: "Tokens the fast-model predictor used, by direction (input, output)",
      labelNames: ["direction"],
      registers: [registry],
    });
  }

  /** Counts a speculation event (other events are ignored). */
  observe(event: OrchestrateEvent): void {
    const outcome = OUTCOME_OF_EVENT[event.type];
    if (!outcome || !("predictors" in event)) return;
    const tool = this.#tool(event.tool);
    for (const predictor of event.predictors) this.#outcomes.inc({ outcome, tool, predictor });
    if (event.type === EventType.speculationMiss) this.#wasted.inc({ tool }, event.wastedMs / 1000);
  }

  fastModelUsed(usage: { inputTokens: number; outputTokens: number }): void {
    this.#fastModelTokens.inc({ direction: "input" }, usage.inputTokens);
    this.#fastModelTokens.inc({ direction: "output" }, usage.outputTokens);
  }
}
