import { randomBytes } from "node:crypto";
import { toolCallId, type NormalizedConversation, type NormalizedMessage, type Turn } from "./scenario.ts";
import type { SseEvent } from "./sse.ts";
import { piecesTokens, type Piece } from "./stream-plan.ts";

type Block =
  | { type: "text"; text: string }
  | { type: "tool_use"; id: string; name: string; input: unknown }
  | {
      type: "tool_result";
      tool_use_id: string;
      content?: string | { type: string; text?: string }[];
      is_error?: boolean;
    };

/** The Anthropic Messages body as a provider-neutral conversation. */
export function normalizeAnthropic(body: {
  model: string;
  system?: string | { text: string }[];
  messages: { role: "user" | "assistant"; content: string | Block[] }[];
  tools?: { name: string }[];
}): NormalizedConversation {
  const toolNames = new Map<string, string>();
  const messages: NormalizedMessage[] = [];
  for (const m of body.messages) {
    if (typeof m.content === "string") {
      messages.push({ role: m.role, content: m.content });
      continue;
    }
    const text = m.content.flatMap((b) => (b.type === "text" ? [b.text] : [])).join("");
    const uses = m.content.filter((b) => b.type === "tool_use");
    if (m.role === "assistant") {
      for (const use of uses) toolNames.set(use.id, use.name);
      messages.push(
        uses.length
          ? {
              role: "assistant",
              ...(text ? { content: text } : {}),
              toolCalls: uses.map((u) => ({ id: u.id, name: u.name, arguments: u.input })),
            }
          : { role: "assistant", content: text },
      );
      continue;
    }
    for (const block of m.content) {
      if (block.type !== "tool_result") continue;
      const content =
        typeof block.content === "string" ? block.content : (block.content ?? []).map((c) => c.text ?? "").join("");
      messages.push({
        role: "tool",
        callId: block.tool_use_id,
        name: toolNames.get(block.tool_use_id) ?? "",
        content,
        isError: block.is_error === true,
      });
    }
    if (text) messages.push({ role: "user", content: text });
  }
  const system = typeof body.system === "string" ? body.system : body.system?.map((s) => s.text).join("\n");
  return {
    api: "anthropic",
    model: body.model,
    ...(system ? { system } : {}),
    messages,
    tools: (body.tools ?? []).map((t) => t.name),
  };
}

export function anthropicMessage(model: string, turn: Turn, usage: { input: number; output: number }): object {
  const content: object[] = [];
  if (turn.text) content.push({ type: "text", text: turn.text });
  for (const call of turn.toolCalls ?? []) {
    content.push({
      type: "tool_use",
      id: toolCallId(call, "toolu_"),
      name: call.name,
      input: call.arguments ?? {},
    });
  }
  return {
    id: `msg_${randomBytes(8).toString("hex")}`,
    type: "message",
    role: "assistant",
    model,
    content,
    stop_reason: turn.toolCalls?.length ? "tool_use" : "end_turn",
    stop_sequence: null,
    usage: { input_tokens: usage.input, output_tokens: usage.output },
  };
}

export function anthropicError(status: number, message: string): object {
  const type =
    status === 404
      ? "not_found_error"
      : status === 429
        ? "rate_limit_error"
        : status >= 500
          ? "api_error"
          : status === 401
            ? "authentication_error"
            : "invalid_request_error";
  return { type: "error", error: { type, message } };
}

/** The turn as Messages stream events, from `message_start` to `message_stop`. */
export function anthropicStreamEvents(
  model: string,
  pieces: Piece[],
  usage: { input: number; output: number },
): SseEvent[] {
  const event = (type: string, body: object, tokens = 0): SseEvent => ({
    event: type,
    data: JSON.stringify({ type, ...body }),
    tokens,
  });
  const events: SseEvent[] = [
    event("message_start", {
      message: {
        id: `msg_${randomBytes(8).toString("hex")}`,
        type: "message",
        role: "assistant",
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: usage.input, output_tokens: 1 },
      },
    }),
  ];
  const hasText = pieces.some((p) => p.kind === "text");
  const blockOf = (toolIndex: number) => toolIndex + (hasText ? 1 : 0);
  let textOpen = false;
  let sawTool = false;
  for (const piece of pieces) {
    if (piece.kind === "text") {
      if (!textOpen) events.push(event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }));
      textOpen = true;
      events.push(
        event(
          "content_block_delta",
          { index: 0, delta: { type: "text_delta", text: piece.text } },
          piecesTokens(piece),
        ),
      );
      continue;
    }
    if (textOpen) {
      events.push(event("content_block_stop", { index: 0 }));
      textOpen = false;
    }
    if (piece.kind === "toolStart") {
      sawTool = true;
      events.push(
        event(
          "content_block_start",
          {
            index: blockOf(piece.index),
            content_block: { type: "tool_use", id: piece.id, name: piece.name, input: {} },
          },
          piecesTokens(piece),
        ),
      );
    }
    if (piece.kind === "toolArgs") {
      events.push(
        event(
          "content_block_delta",
          { index: blockOf(piece.index), delta: { type: "input_json_delta", partial_json: piece.json } },
          piecesTokens(piece),
        ),
      );
    }
    if (piece.kind === "toolEnd") events.push(event("content_block_stop", { index: blockOf(piece.index) }));
  }
  if (textOpen) events.push(event("content_block_stop", { index: 0 }));
  events.push(
    event("message_delta", {
      delta: { stop_reason: sawTool ? "tool_use" : "end_turn", stop_sequence: null },
      usage: { output_tokens: usage.output },
    }),
  );
  events.push(event("message_stop", {}));
  return events;
}
