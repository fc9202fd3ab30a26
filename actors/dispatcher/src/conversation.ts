import {
  CALL_ID_PATTERN,
  renameReferences,
  type OrchestrateRequest,
  type PlannedCall,
  type ToolCallRecord,
  type ToolDefinition,
} from "@toolformer/protocol";
import {
  toolRoundMessages,
  type ConversationMessage,
  type ModelToolCall,
  type ModelTurn,
  type ToolExchange,
} from "@toolformer/providers";

/** The conversation the model sees first: the request's prompt or messages (`system` travels apart). */
export function initialConversation(request: OrchestrateRequest): ConversationMessage[] {
  if (request.prompt !== undefined) return [{ role: "user", content: request.prompt }];
  return (request.messages ?? []).map((m) => ({ role: m.role, content: m.content }));
}

/** The ids given to a request's calls: every one used so far, and this round's renamings. */
export interface CallNaming {
  used: Set<string>;
  /** The model's id -> the id given instead, for the current round's references. */
  renamed: Map<string, string>;
}

/**
 * One of the model's calls as the scheduler needs it. It keeps the model's id when that can travel as a
 * subject token and is new in the request (so the model's references still match) and gets a stable
 * generated one otherwise, pointing the round's later references at it; unknown tools and unparsable
 * arguments are marked so they fail without running.
 */
export function planCall(
  toolCall: ModelToolCall,
  index: number,
  round: number,
  catalog: ReadonlyMap<string, ToolDefinition>,
  naming: CallNaming,
): PlannedCall {
  let callId = CALL_ID_PATTERN.test(toolCall.id) ? toolCall.id : `r${round}-c${index}`;
  if (naming.used.has(callId)) callId = `r${round}-c${index}`;
  naming.used.add(callId);
  if (callId !== toolCall.id) naming.renamed.set(toolCall.id, callId);
  const definition = catalog.get(toolCall.name);
  const parsed = parseArguments(toolCall.arguments);
  return {
    callId,
    tool: toolCall.name,
    args: parsed.ok ? renameReferences(parsed.value, naming.renamed) : toolCall.arguments,
    ...(parsed.ok ? {} : { argsError: parsed.error }),
    toolInfo: definition
      ? {
          known: true,
          idempotent: definition.idempotent,
          ...(definition.timeoutMs === undefined ? {} : { timeoutMs: definition.timeoutMs }),
          ...(definition.rateLimit === undefined ? {} : { rateLimit: definition.rateLimit }),
        }
      : { known: false, idempotent: false },
  };
}

/** The model's turn and the tools' answers, appended in the shape every provider adapter reads. */
export function appendRound(
  conversation: ConversationMessage[],
  turn: ModelTurn,
  planned: PlannedCall[],
  records: ToolCallRecord[],
  /** What the model is shown of results kept in the object store, by call id. */
  spilled: ReadonlyMap<string, string> = new Map(),
): ConversationMessage[] {
  const byId = new Map(records.map((r) => [r.id, r]));
  const exchanges: ToolExchange[] = planned.map((call, index) => {
    const record = byId.get(call.callId);
    const failed = !record || record.status !== "succeeded";
    return {
      id: call.callId,
      name: call.tool,
      arguments: turn.toolCalls[index]?.arguments ?? JSON.stringify(call.args),
      isError: failed,
      content: failed ? errorText(record) : (spilled.get(call.callId) ?? JSON.stringify(record.result ?? null)),
    };
  });
  return [...conversation, ...toolRoundMessages(exchanges, turn.text)];
}

function errorText(record: ToolCallRecord | undefined): string {
  if (!record) return "Error INTERNAL: the call has no record";
  const error = record.error ?? { code: "TOOL_FAILED", message: record.status };
  return `Error ${error.code}: ${error.message}`;
}

function parseArguments(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  if (text.trim() === "") return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, error: `the model's arguments are not valid JSON: ${String(error)}` };
  }
}
