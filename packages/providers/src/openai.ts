import type OpenAI from "openai";
import type {
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from "openai/resources/chat/completions";
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

/** OpenAI Chat Completions with function tools, through the official SDK. */
export class OpenAiProvider implements ModelProvider {
  readonly name: string;
  readonly #client: () => Promise<OpenAI>;
  readonly #streaming: boolean;

  constructor(name: string, settings: ProviderSettings) {
    this.name = name;
    this.#streaming = settings.streaming;
    this.#client = lazySdkClient(async () => new (await import("openai")).default(sdkClientOptions(settings)));
  }

  async complete(request: ModelTurnRequest, signal: AbortSignal, onToolCall?: ToolCallListener): Promise<ModelTurn> {
    const tools: ChatCompletionTool[] = request.tools.map((tool) => ({
      type: "function",
      function: { name: tool.name, description: tool.description, parameters: tool.parameters },
    }));
    const params = {
      model: request.model,
      messages: [
        ...(request.system ? [{ role: "system" as const, content: request.system }] : []),
        ...request.messages.map(toOpenAi),
      ],
      ...(tools.length ? { tools } : {}),
    };
    return asProviderCall(this.name, signal, () =>
      this.#streaming ? this.#stream(params, signal, onToolCall) : this.#whole(params, signal),
    );
  }

  async #whole(params: ChatCompletionCreateParamsNonStreaming, signal: AbortSignal): Promise<ModelTurn> {
    const completion = await (await this.#client()).chat.completions.create(params, { signal });
    const choice = completion.choices[0];
    const message = choice?.message;
    return {
      ...(message?.content ? { text: message.content } : {}),
      toolCalls: (message?.tool_calls ?? []).flatMap((call) =>
        call.type === "function" ? [{ id: call.id, name: call.function.name, arguments: call.function.arguments }] : [],
      ),
      usage: {
        inputTokens: completion.usage?.prompt_tokens ?? 0,
        outputTokens: completion.usage?.completion_tokens ?? 0,
      },
      stopReason: choice?.finish_reason ?? "unknown",
      responseModel: completion.model,
    };
  }

  async #stream(
    params: ChatCompletionCreateParamsNonStreaming,
    signal: AbortSignal,
    onToolCall?: ToolCallListener,
  ): Promise<ModelTurn> {
    const client = await this.#client();
    const sentAt = performance.now();
    const stream = await client.chat.completions.create(
      { ...params, stream: true, stream_options: { include_usage: true } },
      { signal },
    );
    const assembly = new ToolCallAssembly(onToolCall);
    let text = "";
    let finish: string | undefined;
    let usage = { inputTokens: 0, outputTokens: 0 };
    let timeToFirstChunkMs: number | undefined;
    let responseModel = "";
    for await (const chunk of stream) {
      timeToFirstChunkMs ??= performance.now() - sentAt;
      responseModel ||= chunk.model;
      if (chunk.usage) usage = { inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens };
      const choice = chunk.choices[0];
      if (!choice) continue;
      if (choice.delta?.content) text += choice.delta.content;
      for (const fragment of choice.delta?.tool_calls ?? []) {
        if (fragment.id && fragment.function?.name) assembly.start(fragment.index, fragment.id, fragment.function.name);
        if (fragment.function?.arguments) assembly.append(fragment.index, fragment.function.arguments);
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    // A stream that stops without a finish reason was cut: its last call may be incomplete.
    if (!finish)
      throw new RetryableError(
        ErrorCode.PROVIDER_ERROR,
        `${this.name}: the stream ended before the model finished`,
        STREAM_RETRY_AFTER_MS,
      );
    return {
      ...(text ? { text } : {}),
      toolCalls: assembly.finish(),
      usage,
      stopReason: finish,
      ...(responseModel ? { responseModel } : {}),
      ...(timeToFirstChunkMs === undefined ? {} : { timeToFirstChunkMs }),
    };
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
