import { describe, expect, it } from "vitest";
import { chatSpanEnd, chatSpanStart } from "./model-span.ts";

describe("a model turn's span attributes (GenAI conventions)", () => {
  it("names the span after the operation and the requested model, and says which provider", () => {
    expect(chatSpanStart("openai", { model: "gpt-4o" })).toEqual({
      name: "chat gpt-4o",
      attributes: {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
      },
    });
  });

  it("records the answering model, finish reason, tokens and time to first chunk in seconds", () => {
    const end = chatSpanEnd({
      toolCalls: [],
      usage: { inputTokens: 120, outputTokens: 7 },
      stopReason: "tool_calls",
      responseModel: "gpt-4o-2024-08-06",
      timeToFirstChunkMs: 250,
    });
    expect(end).toEqual({
      "gen_ai.response.model": "gpt-4o-2024-08-06",
      "gen_ai.response.finish_reasons": ["tool_calls"],
      "gen_ai.usage.input_tokens": 120,
      "gen_ai.usage.output_tokens": 7,
      "gen_ai.response.time_to_first_chunk": 0.25,
    });
  });

  it("leaves out what a provider did not say (a whole answer has no first chunk)", () => {
    const end = chatSpanEnd({ toolCalls: [], usage: { inputTokens: 1, outputTokens: 2 }, stopReason: "stop" });
    expect(Object.keys(end).sort()).toEqual([
      "gen_ai.response.finish_reasons",
      "gen_ai.usage.input_tokens",
      "gen_ai.usage.output_tokens",
    ]);
  });
});
