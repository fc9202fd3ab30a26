/**
 * The workload every fault run asks for, as pure functions: what the tools compute, what the fake model
 * says at each turn, and the answer a request must end with. The checker computes the expected answer
 * from the seed alone, so a conversation that lost, doubled or mixed up a result shows as a wrong answer.
 *
 * Three model turns: (0) four parallel calls of the work tool; (1) with those four results read from the
 * conversation, one more part and a combining call that takes that part by reference (`$ref` names a
 * call of the same turn: docs/protocol.md); (2) the answer, from the combined result.
 */
import type { NormalizedConversation, NormalizedMessage, Turn } from "@toolformer/fake-llm";

export const WORK_TOOL = "fault_work";
export const COMBINE_TOOL = "fault_combine";
/** Calls of the work tool the model asks for at once in its first turn. */
export const PARTS = 4;
/** The model's name for each call (the orchestrator keeps them unless they are already used in the request). */
export const WORK_CALL_IDS = Array.from({ length: PARTS }, (_, part) => `w${part}`);
/** The part asked for in the second turn, beside the combining call that references it. */
export const LAST_PART = PARTS;
export const LAST_PART_CALL_ID = `w${LAST_PART}`;
export const COMBINE_CALL_ID = "c";
/** Values the combining call gets: the first turn's parts, copied, and the last part, by reference. */
export const COMBINED_VALUES = PARTS + 1;
/** Assistant messages with calls, and tool results, in the conversation of the final turn. */
export const EXPECTED_SHAPE = { assistants: 2, results: PARTS + 2 } as const;

/** The seed as it appears in the prompt and in the arguments (a string, so the speculation engine can find it there). */
export function seedName(index: number, runId: string): string {
  return `${runId}x${index.toString().padStart(6, "0")}`;
}

export function promptOf(seed: string): string {
  return `faults: seed=${seed}; combine ${PARTS} parts`;
}

export function seedOfPrompt(prompt: string): string | undefined {
  return /seed=([A-Za-z0-9]+);/.exec(prompt)?.[1];
}

/** FNV-1a, 32 bits: a stable digest that changes with every character. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** What the work tool returns for one part. */
export function workValue(seed: string, part: number): number {
  return fnv1a(`${seed}:${part}`) % 1_000_000;
}

export interface Combined {
  total: number;
  digest: string;
}

/** What the combine tool returns: the sum and an order-sensitive digest of the values it was given. */
export function combine(seed: string, values: number[]): Combined {
  return {
    total: values.reduce((sum, value) => sum + value, 0),
    digest: fnv1a(`${seed}|${values.join(",")}`).toString(16),
  };
}

export function answerText(seed: string, combined: Combined, shape: { assistants: number; results: number }): string {
  return `${seed}: total=${combined.total} digest=${combined.digest} shape=${shape.assistants}a${shape.results}r`;
}

/** The answer a fault-free run gives for this seed. */
export function expectedAnswer(seed: string): string {
  const values = Array.from({ length: COMBINED_VALUES }, (_, part) => workValue(seed, part));
  return answerText(seed, combine(seed, values), EXPECTED_SHAPE);
}

/** The turn a conversation is at: one per assistant message already in it (what the fake server counts too). */
export function turnIndexOf(conversation: NormalizedConversation): number {
  return conversation.messages.filter((m) => m.role === "assistant").length;
}

export function seedOfConversation(conversation: NormalizedConversation): string | undefined {
  const first = conversation.messages.find((m) => m.role === "user");
  return first && "content" in first && typeof first.content === "string" ? seedOfPrompt(first.content) : undefined;
}

type ToolMessage = Extract<NormalizedMessage, { role: "tool" }>;
type CallingMessage = Extract<NormalizedMessage, { toolCalls: unknown }>;

/** The last assistant message that asked for calls, and the results that followed it, by call id. */
function lastRound(conversation: NormalizedConversation): {
  calls: CallingMessage["toolCalls"];
  results: Map<string, ToolMessage>;
} {
  const messages = conversation.messages;
  let at = messages.length - 1;
  while (at >= 0 && !(messages[at]!.role === "assistant" && "toolCalls" in messages[at]!)) at--;
  const asking = messages[at] as CallingMessage | undefined;
  const results = new Map<string, ToolMessage>();
  for (const message of messages.slice(at + 1)) if (message.role === "tool") results.set(message.callId, message);
  return { calls: asking?.toolCalls ?? [], results };
}

/** A successful result's JSON, or undefined for a missing, failed or unreadable one. */
function resultOf(results: Map<string, ToolMessage>, callId: string): Record<string, unknown> | undefined {
  const message = results.get(callId);
  if (!message || message.isError) return undefined;
  try {
    const parsed = JSON.parse(message.content) as unknown;
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The fake model: turn 0 asks for the parts in parallel; turn 1 reads every part's result from the
 * conversation and asks for the last part and a call combining all of them, the last by reference; turn
 * 2 answers from the combined result and the conversation's shape. Anything missing gives an answer
 * that says so.
 */
export function faultTurn(conversation: NormalizedConversation): Turn {
  const seed = seedOfConversation(conversation);
  if (seed === undefined) return { text: "no seed in the prompt" };
  const turn = turnIndexOf(conversation);
  if (turn === 0) {
    return {
      toolCalls: WORK_CALL_IDS.map((id, part) => ({ id, name: WORK_TOOL, arguments: { seed, part } })),
    };
  }
  const { calls, results } = lastRound(conversation);
  if (turn === 1) {
    const byPart = WORK_CALL_IDS.map((_, part) =>
      calls.find((call) => call.name === WORK_TOOL && (call.arguments as { part?: unknown })?.part === part),
    );
    const values = byPart.map((call) => (call ? resultOf(results, call.id)?.value : undefined));
    const missing = values.flatMap((value, part) => (typeof value === "number" ? [] : [part]));
    if (missing.length > 0) return { text: `${seed}: missing work ${missing.join(",")}` };
    return {
      toolCalls: [
        { id: LAST_PART_CALL_ID, name: WORK_TOOL, arguments: { seed, part: LAST_PART } },
        {
          id: COMBINE_CALL_ID,
          name: COMBINE_TOOL,
          arguments: { seed, values: [...values, { $ref: `${LAST_PART_CALL_ID}#/value` }] },
        },
      ],
    };
  }
  if (turn === 2) {
    const call = calls.find((c) => c.name === COMBINE_TOOL);
    const combined = call && resultOf(results, call.id);
    if (!combined || typeof combined.total !== "number" || typeof combined.digest !== "string")
      return { text: `${seed}: missing combine` };
    const shape = {
      assistants: conversation.messages.filter((m) => m.role === "assistant" && "toolCalls" in m).length,
      results: conversation.messages.filter((m) => m.role === "tool").length,
    };
    return { text: answerText(seed, { total: combined.total, digest: combined.digest }, shape) };
  }
  return { text: `${seed}: unexpected turn ${turn}` };
}
