import type { ToolDefinition } from "@toolformer/protocol";

/** One message of the conversation, in the one shape every adapter translates from. */
export type ConversationMessage =
  | { role: "user" | "assistant" | "system"; content: string }
  | { role: "assistant"; content?: string; toolCalls: ModelToolCall[] }
  | { role: "tool"; callId: string; name: string; content: string; isError: boolean };

export interface ModelToolCall {
  id: string;
  name: string;
  /** The arguments exactly as the model wrote them (JSON text, possibly invalid). */
  arguments: string;
}

export interface ModelTurnRequest {
  /** The model's name, without the `provider:` prefix. */
  model: string;
  system?: string;
  messages: ConversationMessage[];
  tools: ToolDefinition[];
}

export interface ModelTurn {
  text?: string;
  toolCalls: ModelToolCall[];
  usage: { inputTokens: number; outputTokens: number };
  stopReason: string;
  /** The model that answered, as the provider names it (may be more specific than the one asked for). */
  responseModel?: string;
  /** Streaming only: from sending the request to the first chunk of the answer, milliseconds. */
  timeToFirstChunkMs?: number;
}

/** Told about each tool call as soon as its arguments are complete, while the model may still be writing. */
export type ToolCallListener = (call: ModelToolCall) => void;

/** A model API. Adding a provider is one file implementing this, registered in registry.ts. */
export interface ModelProvider {
  readonly name: string;
  /**
   * One model turn. When streaming, `onToolCall` hears each call the moment it is complete (every call
   * is also in the returned turn). Rejects with a `ToolformerError` (PROVIDER_ERROR; retryable for 429,
   * 5xx, broken connections and broken streams) or with the signal's reason when aborted.
   */
  complete(request: ModelTurnRequest, signal: AbortSignal, onToolCall?: ToolCallListener): Promise<ModelTurn>;
}

/** What every SDK-backed adapter is built with. */
export interface ProviderSettings {
  apiKey: string;
  /** Another server speaking the same API (for OpenAI: vLLM, Ollama, llama.cpp, LM Studio, ...). */
  baseURL?: string;
  /** Retries inside the SDK (0 by default: the dispatcher retries, within the request's deadline). */
  maxRetries: number;
  timeoutMs: number;
  /** Stream responses, so tool calls are known as soon as each one is complete. */
  streaming: boolean;
}

/** The options both official SDK clients take, from our settings. */
export function sdkClientOptions(settings: ProviderSettings): {
  apiKey: string;
  baseURL?: string;
  maxRetries: number;
  timeout: number;
} {
  return {
    apiKey: settings.apiKey,
    ...(settings.baseURL ? { baseURL: settings.baseURL } : {}),
    maxRetries: settings.maxRetries,
    timeout: settings.timeoutMs,
  };
}
