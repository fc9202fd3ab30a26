import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";

/** One message of a conversation, whichever API it arrived through. */
export type NormalizedMessage =
  | { role: "system" | "user" | "assistant"; content: string }
  | { role: "assistant"; content?: string; toolCalls: { id: string; name: string; arguments: unknown }[] }
  | { role: "tool"; callId: string; name: string; content: string; isError: boolean };

export interface NormalizedConversation {
  api: "openai" | "anthropic";
  model: string;
  system?: string;
  messages: NormalizedMessage[];
  /** Names of the tools the request offered. */
  tools: string[];
}

export const TurnSchema = z.strictObject({
  /** `id` names a call so later calls of the turn can reference its result (`{"$ref": "<id>"}`); generated when absent. */
  toolCalls: z
    .array(z.strictObject({ id: z.string().min(1).optional(), name: z.string().min(1), arguments: z.unknown() }))
    .optional(),
  text: z.string().optional(),
  /** Time before the first token (the whole response when not streaming), milliseconds. */
  timeToFirstTokenMs: z.int().min(0).optional(),
  /** Output pace after the first token; absent means as fast as the connection goes. */
  tokensPerSecond: z.number().positive().optional(),
  /** Break a streamed response after this many chunks: `cut` drops the connection, `garbled` sends invalid JSON. */
  streamFault: z.strictObject({ kind: z.enum(["cut", "garbled"]), afterChunks: z.int().min(0) }).optional(),
  /** Answer with this HTTP error instead (e.g. 429 with a retry-after). */
  error: z
    .strictObject({ status: z.int().min(400).max(599), message: z.string(), retryAfterMs: z.int().min(0).optional() })
    .optional(),
});
export type Turn = z.infer<typeof TurnSchema>;

/** Scripted turns in order, or a function deciding each turn from the conversation so far. */
export type Scenario = { turns: Turn[] } | ((conversation: NormalizedConversation) => Turn | Promise<Turn>);

export const ScenarioFileSchema = z.record(z.string(), z.strictObject({ turns: z.array(TurnSchema).min(1) }));

/** Reads `{ "<name>": { "turns": [...] } }`; a bad file is an error naming what is wrong. */
export function loadScenarioFile(path: string): Record<string, Scenario> {
  const parsed = ScenarioFileSchema.safeParse(JSON.parse(readFileSync(path, "utf8")));
  if (!parsed.success) throw new Error(`${path} is not a valid scenario file:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * The turn a conversation has reached: one per assistant message already in it, so the server keeps no
 * state and any number of clients can share it. Past the script's end, a tool-free last turn repeats;
 * otherwise the model answers with a closing text.
 */
export async function nextTurn(scenario: Scenario, conversation: NormalizedConversation): Promise<Turn> {
  if (typeof scenario === "function") return scenario(conversation);
  const index = conversation.messages.filter((m) => m.role === "assistant").length;
  const turn = scenario.turns[index];
  if (turn) return turn;
  const last = scenario.turns.at(-1);
  return last && !last.toolCalls?.length ? last : { text: "done" };
}

/** A scripted call's id, or a fresh one in the provider's style (`call_`, `toolu_`). */
export function toolCallId(call: { id?: string | undefined }, prefix: string): string {
  return call.id ?? `${prefix}${randomBytes(8).toString("hex")}`;
}
