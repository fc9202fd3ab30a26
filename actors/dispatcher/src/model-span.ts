import type { ModelTurn, ModelTurnRequest } from "@toolformer/providers";

type Attributes = Record<string, string | number | string[]>;

/**
 * The name and request-side attributes of a model turn's span, by OpenTelemetry's GenAI conventions
 * (`chat {gen_ai.request.model}`, kind CLIENT). `provider` is the orchestrator's name for it (`openai`,
 * `anthropic`, `fake`); prompts and answers are never attributes.
 */
export function chatSpanStart(
  provider: string,
  request: Pick<ModelTurnRequest, "model">,
): {
  name: string;
  attributes: Attributes;
} {
  return {
    name: `chat ${request.model}`,
    attributes: {
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": provider,
      "gen_ai.request.model": request.model,
    },
  };
}

/** What a finished turn adds to its span: the answering model, why it stopped, the tokens, and when it began to answer. */
export function chatSpanEnd(turn: ModelTurn): Attributes {
  return {
    ...(turn.responseModel ? { "gen_ai.response.model": turn.responseModel } : {}),
    "gen_ai.response.finish_reasons": [turn.stopReason],
    "gen_ai.usage.input_tokens": turn.usage.inputTokens,
    "gen_ai.usage.output_tokens": turn.usage.outputTokens,
    // Seconds, as the conventions measure it.
    ...(turn.timeToFirstChunkMs === undefined
      ? {}
      : { "gen_ai.response.time_to_first_chunk": turn.timeToFirstChunkMs / 1000 }),
  };
}
