import Anthropic from "@anthropic-ai/sdk";
import type { MessageParam, Tool, ToolResultBlockParam } from "@anthropic-ai/sdk/resources/messages";
import { providerError } from "./errors.ts";
import type { ConversationMessage, ModelProvider, ModelTurn, ModelTurnRequest } from "./types.ts";

export const DEFAULT_MAX_TOKENS = 4096;

export interface AnthropicSettings {
  apiKey: string;
  baseURL?: string;
  maxRetries: number;
  timeoutMs: number;
}

/** Anthropic Messages with `tool_use` / `tool_result`, through the official SDK. */
export class AnthropicProvider implements ModelProvider {
  readonly name: string;
  readonly #client: Anthropic;

  constructor(name: string, settings: AnthropicSettings) {
    this.name = name;
    this.#client = new Anthropic({
      apiKey: settings.apiKey,
      ...(settings.baseURL ? { baseURL: settings.baseURL } : {}),
      maxRetries: settings.maxRetries,
      timeout: settings.timeoutMs,
    });
  }

  async complete(request: ModelTurnRequest, signal: AbortSignal): Promise<ModelTurn> {
    const tools: Tool[] = request.tools.map((tool) => ({
      name: tool.name,
      description: tool.description,
      input_schema: { type: "object", ...tool.parameters },
    }));
    const system = [
      request.system,
      ...request.messages.flatMap((m) => (m.role === "system" && !("toolCalls" in m) ? [m.content] : [])),
    ]
      .filter(Boolean)
      .join("\n");
    try {
      const message = await this.#client.messages.create(
        {
          model: request.model,
          max_tokens: DEFAULT_MAX_TOKENS,
          ...(system ? { system } : {}),
          messages: toAnthropic(request.messages),
          ...(tools.length ? { tools } : {}),
        },
        { signal },
      );
      const text = message.content.flatMap((block) => (block.type === "text" ? [block.text] : [])).join("");
      return {
        ...(text ? { text } : {}),
        toolCalls: message.content.flatMap((block) =>
          block.type === "tool_use"
            ? [{ id: block.id, name: block.name, arguments: JSON.stringify(block.input ?? {}) }]
            : [],
        ),
        usage: { inputTokens: message.usage.input_tokens, outputTokens: message.usage.output_tokens },
        stopReason: message.stop_reason ?? "unknown",
      };
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw providerError(this.name, error);
    }
  }
}

/** Consecutive tool results go back in one user message, as the Messages API requires. */
function toAnthropic(messages: ConversationMessage[]): MessageParam[] {
  const out: MessageParam[] = [];
  let results: ToolResultBlockParam[] = [];
  const flush = () => {
    if (results.length) out.push({ role: "user", content: results });
    results = [];
  };
  for (const m of messages) {
    if (m.role === "tool") {
      results.push({
        type: "tool_result",
        tool_use_id: m.callId,
        content: m.content,
        ...(m.isError ? { is_error: true } : {}),
      });
      continue;
    }
    flush();
    if ("toolCalls" in m) {
      out.push({
        role: "assistant",
        content: [
          ...(m.content ? [{ type: "text" as const, text: m.content }] : []),
          ...m.toolCalls.map((call) => ({
            type: "tool_use" as const,
            id: call.id,
            name: call.name,
            input: parseInput(call.arguments),
          })),
        ],
      });
    } else if (m.role !== "system") {
      out.push({ role: m.role, content: m.content });
    }
  }
  flush();
  return out;
}

function parseInput(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return {};
  }
}
