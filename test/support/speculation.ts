/**
 * What speculation tests share: reading the fake model's conversation, asking with or without
 * speculation, and teaching the history model a workload until it is in KV.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { expect } from "vitest";
import { Kvm } from "@nats-io/kv";
import type { NormalizedConversation } from "@toolformer/fake-llm";
import { ContentType, decode, DEFAULT_TENANT, KV_BUCKETS, type OrchestrateEvent } from "@toolformer/protocol";
import { historyKey } from "@toolformer/speculation";
import type { TestEnvironment } from "./environment.ts";

/** The last thing the user said: where an agent scenario reads its task. */
export const promptOf = (c: NormalizedConversation) =>
  c.messages.flatMap((m) => (m.role === "user" ? [m.content] : [])).at(-1) ?? "";
export const toolResults = (c: NormalizedConversation) => c.messages.flatMap((m) => (m.role === "tool" ? [m] : []));

/** Sends a request that must complete, and reads back all its events. */
export async function ask(env: TestEnvironment, id: string, model: string, prompt: string, speculation = true) {
  const reply = await env.client.request({ id, prompt, model, options: { speculation } });
  expect(reply.status).toBe("completed");
  const events: OrchestrateEvent[] = [];
  for await (const event of env.client.events(id)) events.push(event);
  return { reply, events };
}

export const ofType = <T extends OrchestrateEvent["type"]>(events: OrchestrateEvent[], type: T) =>
  events.filter((e): e is Extract<OrchestrateEvent, { type: T }> => e.type === type);

/** A workload for the history model to learn: its model, its prompts, and the tools its last round calls. */
export interface Workload {
  model: string;
  prompt: (i: number) => string;
  lastTools: string[];
}

/** How many turns the history in KV has seen in a state (the first turn's when `previousTools` is empty). */
export async function turnsSeen(env: TestEnvironment, prompt: string, previousTools: string[]): Promise<number> {
  const offered = (await env.client.tools()).tools.map((t) => t.name);
  const previous = previousTools.map((tool) => ({ tool, args: {}, status: "succeeded" as const }));
  const history = await new Kvm(env.admin).open(KV_BUCKETS.speculationHistory);
  const entry = await history.get(historyKey(DEFAULT_TENANT, offered, prompt, previous));
  if (!entry || entry.operation !== "PUT") return 0;
  return (decode(entry.value, ContentType.msgpack) as { observations: number }).observations;
}

/**
 * Requests that teach the history model (it needs two sightings of a state), then a wait until their
 * last state is in KV: each copy saves a request's states in order, so the earlier ones are there too.
 * Returns what the requests answered.
 */
export async function warmUp(env: TestEnvironment, tag: string, workload: Workload, count = 3) {
  const { model, prompt, lastTools } = workload;
  const before = await turnsSeen(env, prompt(0), lastTools);
  const asked: Awaited<ReturnType<typeof ask>>[] = [];
  for (let i = 0; i < count; i++) asked.push(await ask(env, `${tag}-warm-${i}`, model, prompt(i), false));
  const giveUpAt = Date.now() + 10_000;
  while ((await turnsSeen(env, prompt(0), lastTools)) < before + count) {
    if (Date.now() > giveUpAt) throw new Error(`the history never learned from the ${tag} warm-up`);
    await sleep(50);
  }
  return asked;
}
