import { describe, expect, it } from "vitest";
import type { ObservedCall, SpeculationTranscript } from "@toolformer/protocol";
import {
  historyKey,
  lessonsOf,
  MAX_OBSERVATIONS,
  mergeHistory,
  predictFromHistory,
  EMPTY_HISTORY,
  type HistoryEntry,
} from "./history-model.ts";

const searchResult = (topic: string) => ({
  results: [0, 1, 2].map((i) => ({ url: `https://example.org/${topic}/${i}`, title: `${topic} ${i}` })),
});

/** A research agent: search what the prompt names, then fetch the two top results, then answer. */
function research(topic: string): SpeculationTranscript {
  const search: ObservedCall = {
    tool: "search",
    args: { query: topic },
    status: "succeeded",
    result: searchResult(topic),
  };
  const fetches: ObservedCall[] = [0, 1].map((i) => ({
    tool: "fetch_page",
    args: { url: `https://example.org/${topic}/${i}` },
    status: "succeeded",
    result: { text: "..." },
  }));
  return {
    requestId: topic,
    tenant: "acme",
    messages: [{ role: "user", content: `Research: ${topic}` }],
    tools: ["search", "fetch_page"],
    rounds: [[search], fetches],
    answered: true,
  };
}

function learned(...transcripts: SpeculationTranscript[]): Map<string, HistoryEntry> {
  const all = new Map<string, HistoryEntry>();
  for (const transcript of transcripts)
    for (const [key, lesson] of lessonsOf(transcript))
      all.set(key, mergeHistory(all.get(key) ?? EMPTY_HISTORY, lesson));
  return all;
}

describe("history model", () => {
  const history = learned(research("quantum dots"), research("tidal power"), research("bees"));
  const offered = ["search", "fetch_page"];

  it("predicts the first call with its argument taken from a new prompt", () => {
    const entry = history.get(historyKey("acme", offered, "Research: x", []))!;
    const predictions = predictFromHistory(entry, { prompt: "Research: coral reefs", previous: [] }, 2);
    expect(predictions).toEqual([
      { tool: "search", args: { query: "coral reefs" }, confidence: 0.75, predictor: "history" },
    ]);
  });

  it("predicts the next round's calls from the previous round's results", () => {
    const previous: ObservedCall[] = [
      { tool: "search", args: { query: "moss" }, status: "succeeded", result: searchResult("moss") },
    ];
    const entry = history.get(historyKey("acme", offered, "Research: x", previous))!;
    const predictions = predictFromHistory(entry, { prompt: "Research: moss", previous }, 2);
    expect(predictions.map((p) => p.args)).toEqual([
      { url: "https://example.org/moss/0" },
      { url: "https://example.org/moss/1" },
    ]);
  });

  it("learns that the model answers after the fetches, and predicts nothing there", () => {
    const previous: ObservedCall[] = [{ tool: "fetch_page", args: {}, status: "succeeded", result: {} }];
    const entry = history.get(historyKey("acme", offered, "Research: x", previous))!;
    expect(entry.observations).toBe(3);
    expect(predictFromHistory(entry, { prompt: "Research: moss", previous }, 2)).toEqual([]);
  });

  it("tells tasks apart by the prompt's first word", () => {
    expect(historyKey("acme", offered, "Research: a", [])).toBe(historyKey("acme", offered, "research b", []));
    expect(historyKey("acme", offered, "Research: a", [])).not.toBe(historyKey("acme", offered, "Summarize a", []));
  });

  it("says nothing before it has seen a state often enough, nor for another tenant", () => {
    const once = learned(research("bees"));
    expect(
      predictFromHistory(
        once.get(historyKey("acme", offered, "Research: x", []))!,
        { prompt: "Research: x y", previous: [] },
        2,
      ),
    ).toEqual([]);
    expect(history.get(historyKey("other", offered, "Research: x", []))).toBeUndefined();
  });

  it("gives low confidence to arguments that change every time (constants that never repeat)", () => {
    const random = (n: number): SpeculationTranscript => ({
      ...research("x"),
      messages: [{ role: "user", content: "do something" }],
      rounds: [[{ tool: "search", args: { query: `q${n}-${n * 7}` }, status: "succeeded", result: {} }]],
    });
    const entry = learned(random(1), random(2), random(3), random(4)).get(historyKey("acme", offered, "do it", []))!;
    const predictions = predictFromHistory(entry, { prompt: "do something", previous: [] }, 2);
    expect(Math.max(...predictions.map((p) => p.confidence))).toBeLessThanOrEqual(0.2);
  });

  it("lets what agents do now outweigh what they did long ago", () => {
    const leaf = { kind: "leaf", source: { from: "const", value: "x" } } as const;
    let entry: HistoryEntry = EMPTY_HISTORY;
    const turn = (tool: string): HistoryEntry => ({
      observations: 1,
      templates: { [tool]: { tool, template: leaf, count: 1 } },
    });
    for (let i = 0; i < 1_000; i++) entry = mergeHistory(entry, turn("old"));
    for (let i = 0; i < 300; i++) entry = mergeHistory(entry, turn("new"));
    expect(entry.observations).toBeLessThanOrEqual(MAX_OBSERVATIONS);
    const confidence = (tool: string) => entry.templates[tool]!.count / (entry.observations + 1);
    expect(confidence("new")).toBeGreaterThan(0.6);
    expect(confidence("old")).toBeLessThan(0.4);
  });
});
