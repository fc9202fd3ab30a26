import {
  CALL_ID_PATTERN,
  canonicalJson,
  renameReferences,
  sensitivePaths,
  type OrchestrateRequest,
  type PlannedCall,
  type RecordedRequest,
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

/**
 * A run's request, a client's or a replay's, read as one: a replay's has no conversation (`prompt`,
 * `messages`, `system`), as its turns are recorded ones (ADR 0027).
 */
export type RunRequest = Pick<Partial<OrchestrateRequest>, "prompt" | "messages" | "system"> & RecordedRequest;

/** The conversation the model sees first: the request's prompt or messages (`system` travels apart). */
export function initialConversation(request: RunRequest): ConversationMessage[] {
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
          readOnly: definition.readOnly,
          idempotent: definition.idempotent,
          ...(definition.timeoutMs === undefined ? {} : { timeoutMs: definition.timeoutMs }),
          ...(definition.rateLimit === undefined ? {} : { rateLimit: definition.rateLimit }),
          ...(definition.approval === undefined ? {} : { approval: definition.approval }),
          ...sensitiveOf(definition),
        }
      : { known: false, readOnly: false, idempotent: false },
  };
}

/** The paths the scheduler redacts in `tool.scheduled`, when the tool's schema marks any. */
function sensitiveOf(definition: ToolDefinition): { sensitive?: string[][] } {
  const paths = sensitivePaths(definition.parameters);
  return paths.length === 0 ? {} : { sensitive: paths };
}

/**
 * Plans a turn asked again because its dispatcher died while the model was still writing it, after
 * handing some calls to the round. In the model's order, each call takes over the first handed call of
 * the same tool and arguments (its later references follow), so no call runs twice; the others are
 * planned as new. Handed calls that nothing takes over stay in the round but are not the turn's.
 */
export function planTakingOver(
  toolCalls: readonly ModelToolCall[],
  handed: readonly PlannedCall[],
  round: number,
  catalog: ReadonlyMap<string, ToolDefinition>,
  naming: CallNaming,
): PlannedCall[] {
  for (const call of handed) naming.used.add(call.callId);
  const free = [...handed];
  return toolCalls.map((toolCall, index) => {
    const planned = planCall(toolCall, index, round, catalog, naming);
    const key = canonicalJson(planned.args);
    const at = free.findIndex((call) => call.tool === planned.tool && canonicalJson(call.args) === key);
    const [taken] = at < 0 ? [] : free.splice(at, 1);
    if (!taken) return planned;
    naming.renamed.set(toolCall.id, taken.callId);
    return taken;
  });
}

/** The model's turn and the tools' answers, appended in the shape every provider adapter reads. */
export function appendRound(
  conversation: ConversationMessage[],
  turn: Pick<ModelTurn, "text" | "toolCalls">,
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
