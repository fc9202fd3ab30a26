import { createHash } from "node:crypto";
import { canonicalJson, type ChatMessage, type ObservedCall, type SpeculationTranscript } from "@toolformer/protocol";
import { instantiate, templateOf, type ArgTemplate, type TemplateContext } from "./arg-templates.ts";
import { Predictor, type Prediction } from "./prediction.ts";

/** What followed one state: how many model turns started in it, and how often each call came next. */
export interface HistoryEntry {
  observations: number;
  templates: Record<string, { tool: string; template: ArgTemplate; count: number }>;
}

export const EMPTY_HISTORY: HistoryEntry = { observations: 0, templates: {} };

/** The calls a state remembers; beyond it, the rarest are forgotten. */
const MAX_TEMPLATES = 64;
/**
 * Turns a state remembers at full weight: past this, every count is halved, so what agents do now
 * outweighs what they did long ago and a changed workload takes over within a few hundred turns.
 */
export const MAX_OBSERVATIONS = 256;

/** The text the predictors read arguments from: the last user message. */
export function promptOf(messages: ChatMessage[]): string {
  return messages.findLast((message) => message.role === "user")?.content ?? "";
}

/**
 * The prompt's coarsest feature: its first word, lowercased ("Research: …" and "Summarize …" are
 * different tasks to an agent; the rest of the prompt is where arguments come from, not the state).
 */
export function promptFeature(prompt: string): string {
  return (/[\p{L}\p{N}_-]{1,32}/u.exec(prompt)?.[0] ?? "").toLowerCase();
}

/**
 * The state a model turn starts in, as a KV key: the tenant, the tools on offer (which tells one kind
 * of agent from another), the prompt's first word, and the tools the previous round called (none for
 * the first turn).
 */
export function historyKey(tenant: string, offered: string[], prompt: string, previous: ObservedCall[]): string {
  const state = [
    tenant,
    [...offered].sort(),
    promptFeature(prompt),
    [...new Set(previous.map((call) => call.tool))].sort(),
  ];
  return `history.${createHash("sha256").update(JSON.stringify(state)).digest("hex").slice(0, 32)}`;
}

/** Two counts of the same state added together (copies learn apart and merge in KV). */
export function mergeHistory(a: HistoryEntry, b: HistoryEntry): HistoryEntry {
  const templates = { ...a.templates };
  for (const [id, seen] of Object.entries(b.templates)) {
    templates[id] = { ...seen, count: (templates[id]?.count ?? 0) + seen.count };
  }
  const observations = a.observations + b.observations;
  const scale = observations > MAX_OBSERVATIONS ? 0.5 : 1;
  const kept = Object.entries(templates)
    .sort(([, x], [, y]) => y.count - x.count)
    .slice(0, MAX_TEMPLATES)
    .map(([id, seen]) => [id, { ...seen, count: seen.count * scale }] as const);
  return { observations: observations * scale, templates: Object.fromEntries(kept) };
}

/** What one finished request teaches, per state: one observation per model turn and the calls that followed. */
export function lessonsOf(transcript: SpeculationTranscript): Map<string, HistoryEntry> {
  const prompt = promptOf(transcript.messages);
  const lessons = new Map<string, HistoryEntry>();
  const learn = (previous: ObservedCall[], calls: ObservedCall[]) => {
    const key = historyKey(transcript.tenant, transcript.tools, prompt, previous);
    const context: TemplateContext = { prompt, previous };
    const templates: HistoryEntry["templates"] = {};
    for (const call of calls) {
      const template = templateOf(call.args, context);
      templates[canonicalJson([call.tool, template])] = { tool: call.tool, template, count: 1 };
    }
    lessons.set(key, mergeHistory(lessons.get(key) ?? EMPTY_HISTORY, { observations: 1, templates }));
  };
  transcript.rounds.forEach((calls, index) => learn(transcript.rounds[index - 1] ?? [], calls));
  if (transcript.answered) learn(transcript.rounds.at(-1) ?? [], []);
  return lessons;
}

/**
 * The calls a state's history expects next, rebuilt for this request. A call's confidence is how often
 * it followed the state, counting one unseen turn against it (so two sightings in two turns give 2/3).
 */
export function predictFromHistory(
  entry: HistoryEntry,
  context: TemplateContext,
  minObservations: number,
): Prediction[] {
  if (entry.observations < minObservations) return [];
  return Object.values(entry.templates).flatMap(({ tool, template, count }) => {
    const args = instantiate(template, context);
    if (args === undefined) return [];
    return [{ tool, args, confidence: count / (entry.observations + 1), predictor: Predictor.history }];
  });
}
