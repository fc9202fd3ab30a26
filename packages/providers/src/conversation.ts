import type { ConversationMessage } from "./types.ts";

/** One tool call of a round and what came of it, as the model is shown it. */
export interface ToolExchange {
  id: string;
  name: string;
  /** The arguments as JSON text. */
  arguments: string;
  isError: boolean;
  /** The result, or the error, as text. */
  content: string;
}

/**
 * A round in the shape every provider adapter reads: the model's turn asking for the tools (with its
 * text, if it wrote any), then each tool's answer. Whoever rebuilds a conversation (the model loop, the
 * speculation engine's fast model) shows the model the same thing.
 */
export function toolRoundMessages(exchanges: ToolExchange[], text?: string): ConversationMessage[] {
  return [
    {
      role: "assistant",
      ...(text ? { content: text } : {}),
      toolCalls: exchanges.map(({ id, name, arguments: args }) => ({ id, name, arguments: args })),
    },
    ...exchanges.map(({ id, name, isError, content }): ConversationMessage => ({
      role: "tool",
      callId: id,
      name,
      isError,
      content,
    })),
  ];
}
