import OpenAI from "openai";
import type { ChatCompletionMessageParam, ChatCompletionTool } from "openai/resources/chat/completions";
import { providerError } from "./errors.ts";
import type { ConversationMessage, ModelProvider, ModelTurn, ModelTurnRequest } from "./types.ts";

export interface OpenAiSettings {
  apiKey: string;
  /** Any OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio, ...). */
  baseURL?: string;
  maxRetries: number;
  timeoutMs: number;
}

/** OpenAI Chat Completions with function tools, through the official SDK. */
export class OpenAiProvider implements ModelProvider {
  readonly name: string;
  readonly #client: OpenAI;

  constructor(name: string, settings: OpenAiSettings) {
    this.name = name;
    this.#client = new OpenAI({
      apiKey: settings.apiKey,
      ...(settings.baseURL ? { baseURL: settings.baseURL } : {}),
      maxRetries: settings.maxRetries,
      timeout: settings.timeoutMs,
    });
  }

  async complete(request: ModelTurnRequest, signal: AbortSignal): Promise<ModelTurn> {
    const tools: ChatCompletionTool[] = request.tools.map((tool) => ({
      type: "function",
      function: { name: tool.name, description: tool.description, parameters: tool.parameters },
    }));
    try {
      const completion = await this.#client.chat.completions.create(
        {
          model: request.model,
          messages: [
            ...(request.system ? [{ role: "system" as const, content: request.system }] : []),
            ...request.messages.map(toOpenAi),
          ],
          ...(tools.length ? { tools } : {}),
        },
        { signal },
      );
      const choice = completion.choices[0];
      const message = choice?.message;
      return {
        ...(message?.content ? { text: message.content } : {}),
        toolCalls: (message?.tool_calls ?? []).flatMap((call) =>
          call.type === "function"
            ? [{ id: call.id, name: call.function.name, arguments: call.function.arguments }]
            : [],
        ),
        usage: {
          inputTokens: completion.usage?.prompt_tokens ?? 0,
          outputTokens: completion.usage?.completion_tokens ?? 0,
        },
        stopReason: choice?.finish_reason ?? "unknown",
      };
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw providerError(this.name, error);
    }
  }
}

function toOpenAi(message: ConversationMessage): ChatCompletionMessageParam {
  if (message.role === "tool") return { role: "tool", tool_call_id: message.callId, content: message.content };
  if ("toolCalls" in message) {
    return {
      role: "assistant",
      content: message.content ?? null,
      tool_calls: message.toolCalls.map((call) => ({
        id: call.id,
        type: "function",
        function: { name: call.name, arguments: call.arguments },
      })),
    };
  }
  return { role: message.role, content: message.content };
}
