import { randomBytes } from "node:crypto";
import { toolCallId, type NormalizedConversation, type NormalizedMessage, type Turn } from "./scenario.ts";
import type { SseEvent } from "./sse.ts";
import { piecesTokens, type Piece } from "./stream-plan.ts";

interface OpenAiMessage {
  role: string;
  content?: unknown;
  tool_calls?: { id: string; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

/** The OpenAI Chat Completions body as a provider-neutral conversation. */
export function normalizeOpenAi(body: {
  model: string;
  messages: OpenAiMessage[];
  tools?: { function: { name: string } }[];
}): NormalizedConversation {
  const toolNames = new Map<string, string>();
  const messages: NormalizedMessage[] = [];
  let system: string | undefined;
  for (const m of body.messages) {
    const text = textOf(m.content);
    if (m.role === "system" || m.role === "developer") {
      system = system === undefined ? text : `${system}\n${text}`;
    } else if (m.role === "assistant" && m.tool_calls?.length) {
      for (const call of m.tool_calls) toolNames.set(call.id, call.function.name);
      messages.push({
        role: "assistant",
        ...(text ? { content: text } : {}),
        toolCalls: m.tool_calls.map((c) => ({
          id: c.id,
          name: c.function.name,
          arguments: parseJson(c.function.arguments),
        })),
      });
    } else if (m.role === "tool") {
      const callId = m.tool_call_id ?? "";
      // Chat Completions has no error flag; the adapters mark failed results with an "Error" prefix.
      messages.push({
        role: "tool",
        callId,
        name: toolNames.get(callId) ?? "",
        content: text,
        isError: text.startsWith("Error "),
      });
    } else if (m.role === "user" || m.role === "assistant") {
      messages.push({ role: m.role, content: text });
    }
  }
  return {
    api: "openai",
    model: body.model,
    ...(system === undefined ? {} : { system }),
    messages,
    tools: (body.tools ?? []).map((t) => t.function.name),
  };
}

export function openAiCompletion(model: string, turn: Turn, usage: { input: number; output: number }): object {
  const toolCalls = (turn.toolCalls ?? []).map((call) => ({
    id: toolCallId(call, "call_"),
    type: "function",
    function: { name: call.name, arguments: JSON.stringify(call.arguments ?? {}) },
  }));
  return {
    id: `chatcmpl-${randomBytes(8).toString("hex")}`,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: turn.text ?? null,
          refusal: null,
          ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
        },
        logprobs: null,
        finish_reason: toolCalls.length ? "tool_calls" : "stop",
      },
    ],
    usage: { prompt_tokens: usage.input, completion_tokens: usage.output, total_tokens: usage.input + usage.output },
  };
}

export function openAiError(status: number, message: string): object {
  const type = status === 429 ? "rate_limit_exceeded" : status >= 500 ? "server_error" : "invalid_request_error";
  return { error: { message, type, param: null, code: status === 404 ? "model_not_found" : null } };
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part: { text?: string }) => part.text ?? "").join("");
  return "";
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The turn as Chat Completions stream chunks (`chat.completion.chunk`), ending with `[DONE]`. */
export function openAiStreamEvents(
  model: string,
  pieces: Piece[],
  usage: { input: number; output: number },
  includeUsage: boolean,
): SseEvent[] {
  const id = `chatcmpl-${randomBytes(8).toString("hex")}`;
  const created = Math.floor(Date.now() / 1000);
  const chunk = (choice: object | null, extra: object = {}) =>
    JSON.stringify({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      choices: choice ? [{ index: 0, logprobs: null, ...choice }] : [],
      ...extra,
    });
  const events: SseEvent[] = [
    { data: chunk({ delta: { role: "assistant", content: "" }, finish_reason: null }), tokens: 0 },
  ];
  let sawTool = false;
  for (const piece of pieces) {
    if (piece.kind === "text")
      events.push({
        data: chunk({ delta: { content: piece.text }, finish_reason: null }),
        tokens: piecesTokens(piece),
      });
    if (piece.kind === "toolStart") {
      sawTool = true;
      const call = {
        index: piece.index,
        id: piece.id,
        type: "function",
        function: { name: piece.name, arguments: "" },
      };
      events.push({ data: chunk({ delta: { tool_calls: [call] }, finish_reason: null }), tokens: piecesTokens(piece) });
    }
    if (piece.kind === "toolArgs") {
      const call = { index: piece.index, function: { arguments: piece.json } };
      events.push({ data: chunk({ delta: { tool_calls: [call] }, finish_reason: null }), tokens: piecesTokens(piece) });
    }
  }
  events.push({ data: chunk({ delta: {}, finish_reason: sawTool ? "tool_calls" : "stop" }), tokens: 0 });
  if (includeUsage) {
    events.push({
      data: chunk(null, {
        usage: {
          prompt_tokens: usage.input,
          completion_tokens: usage.output,
          total_tokens: usage.input + usage.output,
        },
      }),
      tokens: 0,
    });
  }
  events.push({ data: "[DONE]", tokens: 0 });
  return events;
}
