import type Anthropic from "@anthropic-ai/sdk";
import type {
  MessageCreateParamsNonStreaming,
  MessageParam,
  Tool,
  ToolResultBlockParam,
} from "@anthropic-ai/sdk/resources/messages";
import { ErrorCode, RetryableError } from "@toolformer/protocol";
import { asProviderCall, STREAM_RETRY_AFTER_MS } from "./errors.ts";
import { lazySdkClient } from "./lazy-sdk.ts";
import { ToolCallAssembly } from "./tool-call-assembly.ts";
import type {
  ConversationMessage,
  ModelProvider,
  ModelTurn,
  ModelTurnRequest,
  ProviderSettings,
  ToolCallListener,
} from "./types.ts";
import { sdkClientOptions } from "./types.ts";

export const DEFAULT_MAX_TOKENS = 4096;

/** Anthropic Messages with `tool_use` / `tool_result`, through the official SDK. */
export class AnthropicProvider implements ModelProvider {
  readonly name: string;
  readonly #client: () => Promise<Anthropic>;
  readonly #streaming: boolean;

  constructor(name: string, settings: ProviderSettings) {
    this.name = name;
    this.#streaming = settings.streaming;
    this.#client = lazySdkClient(
      async () => new (await import("@anthropic-ai/sdk")).default(sdkClientOptions(settings)),
    );
  }

  async complete(request: ModelTurnRequest, signal: AbortSignal, onToolCall?: ToolCallListener): Promise<ModelTurn> {
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
    const params: MessageCreateParamsNonStreaming = {
      model: request.model,
      max_tokens: DEFAULT_MAX_TOKENS,
      ...(system ? { system } : {}),
      messages: toAnthropic(request.messages),
      ...(tools.length ? { tools } : {}),
    };
    return asProviderCall(this.name, signal, () =>
      this.#streaming ? this.#stream(params, signal, onToolCall) : this.#whole(params, signal),
    );
  }

  async #whole(params: MessageCreateParamsNonStreaming, signal: AbortSignal): Promise<ModelTurn> {
    const message = await (await this.#client()).messages.create(params, { signal });
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
      responseModel: message.model,
    };
  }

  async #stream(
    params: MessageCreateParamsNonStreaming,
    signal: AbortSignal,
    onToolCall?: ToolCallListener,
  ): Promise<ModelTurn> {
    const client = await this.#client();
    const sentAt = performance.now();
    const stream = await client.messages.create({ ...params, stream: true }, { signal });
    const assembly = new ToolCallAssembly(onToolCall);
    const callOfBlock = new Map<number, number>();
    let text = "";
    let stopReason = "unknown";
    let stopped = false;
    const usage = { inputTokens: 0, outputTokens: 0 };
    let timeToFirstChunkMs: number | undefined;
    let responseModel = "";
    for await (const event of stream) {
      timeToFirstChunkMs ??= performance.now() - sentAt;
      switch (event.type) {
        case "message_start":
          usage.inputTokens = event.message.usage.input_tokens;
          responseModel = event.message.model;
          break;
        case "content_block_start":
          if (event.content_block.type === "tool_use") {
            callOfBlock.set(event.index, callOfBlock.size);
            assembly.start(callOfBlock.size - 1, event.content_block.id, event.content_block.name);
          }
          break;
        case "content_block_delta":
          if (event.delta.type === "text_delta") text += event.delta.text;
          if (event.delta.type === "input_json_delta")
            assembly.append(callOfBlock.get(event.index) ?? -1, event.delta.partial_json);
          break;
        case "content_block_stop":
          assembly.end(callOfBlock.get(event.index) ?? -1);
          break;
        case "message_delta":
          stopReason = event.delta.stop_reason ?? stopReason;
          usage.outputTokens = event.usage.output_tokens;
          break;
        case "message_stop":
          stopped = true;
          break;
      }
    }
    if (!stopped)
      throw new RetryableError(
        ErrorCode.PROVIDER_ERROR,
        `${this.name}: the stream ended before message_stop`,
        STREAM_RETRY_AFTER_MS,
      );
    // A tool_use block with no input deltas has empty input.
    const toolCalls = assembly.finish().map((call) => (call.arguments === "" ? { ...call, arguments: "{}" } : call));
    return {
      ...(text ? { text } : {}),
      toolCalls,
      usage,
      stopReason,
      ...(responseModel ? { responseModel } : {}),
      ...(timeToFirstChunkMs === undefined ? {} : { timeToFirstChunkMs }),
    };
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
