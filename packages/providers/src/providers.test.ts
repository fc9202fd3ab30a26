import { startFakeLlm, type FakeLlmServer } from "@toolformer/fake-llm";
import { RetryableError, TerminalError, type ToolDefinition } from "@toolformer/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AnthropicProvider } from "./anthropic.ts";
import { OpenAiProvider } from "./openai.ts";
import { createProviderRegistry } from "./registry.ts";
import type { ConversationMessage, ModelProvider } from "./types.ts";

const weather: ToolDefinition = {
  name: "get_weather",
  description: "weather",
  parameters: { type: "object", properties: { city: { type: "string" } } },
  readOnly: true,
  idempotent: true,
  source: "typescript",
};

const MODES = [
  ["openai", false],
  ["openai", true],
  ["anthropic", false],
  ["anthropic", true],
] as const;

describe.each(MODES)("the %s adapter through the official SDK (streaming: %s)", (api, streaming) => {
  let fake: FakeLlmServer;
  let provider: ModelProvider;
  beforeAll(async () => {
    fake = await startFakeLlm({
      scenarios: {
        two: {
          turns: [
            {
              toolCalls: [
                { name: "get_weather", arguments: { city: "Paris" } },
                { name: "get_weather", arguments: { city: "Rome" } },
              ],
            },
            { text: "sunny" },
          ],
        },
        limited: { turns: [{ error: { status: 429, message: "slow down", retryAfterMs: 1500 } }] },
        broken: { turns: [{ error: { status: 500, message: "boom" } }] },
      },
    });
    const settings = { apiKey: "sk-test-0123456789", maxRetries: 0, timeoutMs: 5_000, streaming };
    provider =
      api === "openai"
        ? new OpenAiProvider("openai", { ...settings, baseURL: fake.openaiBaseUrl })
        : new AnthropicProvider("anthropic", { ...settings, baseURL: fake.anthropicBaseUrl });
  });
  afterAll(async () => fake?.close());

  it("returns parallel tool calls with ids, names, JSON arguments and usage", async () => {
    const turn = await provider.complete(
      { model: "two", system: "be brief", messages: [{ role: "user", content: "weather?" }], tools: [weather] },
      new AbortController().signal,
    );
    expect(turn.toolCalls.map((c) => [c.name, JSON.parse(c.arguments)])).toEqual([
      ["get_weather", { city: "Paris" }],
      ["get_weather", { city: "Rome" }],
    ]);
    expect(new Set(turn.toolCalls.map((c) => c.id)).size).toBe(2);
    expect(turn.usage.inputTokens).toBeGreaterThan(0);
    expect(fake.received.at(-1)?.conversation).toMatchObject({ api, system: "be brief", tools: ["get_weather"] });
  });

  it("sends tool results and tool errors back in the provider's format", async () => {
    const messages: ConversationMessage[] = [
      { role: "user", content: "weather?" },
      {
        role: "assistant",
        toolCalls: [
          { id: "call_a", name: "get_weather", arguments: '{"city":"Paris"}' },
          { id: "call_b", name: "get_weather", arguments: '{"city":"Rome"}' },
        ],
      },
      { role: "tool", callId: "call_a", name: "get_weather", content: '{"temp":20}', isError: false },
      { role: "tool", callId: "call_b", name: "get_weather", content: "Error TOOL_FAILED: no data", isError: true },
    ];
    const turn = await provider.complete({ model: "two", messages, tools: [weather] }, new AbortController().signal);
    expect(turn).toMatchObject({ text: "sunny", toolCalls: [] });
    const seen = fake.received.at(-1)?.conversation.messages.filter((m) => m.role === "tool");
    expect(seen).toEqual([
      { role: "tool", callId: "call_a", name: "get_weather", content: '{"temp":20}', isError: false },
      { role: "tool", callId: "call_b", name: "get_weather", content: "Error TOOL_FAILED: no data", isError: true },
    ]);
  });

  it("maps failures: unknown model is terminal, 429 carries retry-after, 5xx is retryable; no key leaks", async () => {
    const signal = new AbortController().signal;
    const request = (model: string) =>
      provider.complete({ model, messages: [{ role: "user", content: "x" }], tools: [] }, signal);
    const missing = await request("nope").catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(TerminalError);
    expect(missing).toMatchObject({ code: "PROVIDER_ERROR" });
    const limited = await request("limited").catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(RetryableError);
    expect((limited as RetryableError).retryAfterMs).toBe(1500);
    const broken = await request("broken").catch((e: unknown) => e);
    expect(broken).toBeInstanceOf(RetryableError);
    for (const error of [missing, limited, broken]) expect(String((error as Error).message)).not.toContain("sk-test");
  });

  it("turns a provider that does not answer in time into a retryable PROVIDER_ERROR", async () => {
    fake.addScenario("stalled", { turns: [{ text: "too late", timeToFirstTokenMs: 3_000 }] });
    const settings = { apiKey: "k", maxRetries: 0, timeoutMs: 200, streaming };
    const impatient =
      api === "openai"
        ? new OpenAiProvider("openai", { ...settings, baseURL: fake.openaiBaseUrl })
        : new AnthropicProvider("anthropic", { ...settings, baseURL: fake.anthropicBaseUrl });
    const started = Date.now();
    const error = await impatient
      .complete(
        { model: "stalled", messages: [{ role: "user", content: "x" }], tools: [] },
        new AbortController().signal,
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetryableError);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("stops at once when aborted", async () => {
    fake.addScenario("slow", { turns: [{ text: "late", timeToFirstTokenMs: 5_000 }] });
    const controller = new AbortController();
    const started = Date.now();
    const pending = provider.complete(
      { model: "slow", messages: [{ role: "user", content: "x" }], tools: [] },
      controller.signal,
    );
    setTimeout(() => controller.abort("client"), 100);
    await expect(pending).rejects.toBe("client");
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe.each(["openai", "anthropic"] as const)("streaming from %s", (api) => {
  let fake: FakeLlmServer;
  let provider: ModelProvider;
  beforeAll(async () => {
    fake = await startFakeLlm({
      scenarios: {
        slow: {
          turns: [
            {
              toolCalls: Array.from({ length: 6 }, (_, i) => ({
                name: "get_weather",
                arguments: { city: `City number ${i}` },
              })),
              tokensPerSecond: 150,
            },
          ],
        },
        cut: {
          turns: [
            {
              toolCalls: [{ name: "get_weather", arguments: { city: "Paris" } }],
              streamFault: { kind: "cut", afterChunks: 3 },
            },
          ],
        },
        garbled: {
          turns: [
            {
              toolCalls: [{ name: "get_weather", arguments: { city: "Paris" } }],
              streamFault: { kind: "garbled", afterChunks: 2 },
            },
          ],
        },
      },
    });
    const settings = { apiKey: "k", maxRetries: 0, timeoutMs: 5_000, streaming: true };
    provider =
      api === "openai"
        ? new OpenAiProvider("openai", { ...settings, baseURL: fake.openaiBaseUrl })
        : new AnthropicProvider("anthropic", { ...settings, baseURL: fake.anthropicBaseUrl });
  });
  afterAll(async () => fake?.close());
  const ask = (model: string, onToolCall?: (call: { id: string }) => void) =>
    provider.complete(
      { model, messages: [{ role: "user", content: "x" }], tools: [weather] },
      new AbortController().signal,
      onToolCall,
    );

  it("hears each tool call as soon as its arguments are complete, long before the response ends", async () => {
    const heardAt: number[] = [];
    const started = Date.now();
    const turn = await ask("slow", () => heardAt.push(Date.now()));
    const finishedAt = Date.now();
    expect(turn.toolCalls).toHaveLength(6);
    expect(heardAt).toHaveLength(6);
    expect(turn.toolCalls.map((c) => JSON.parse(c.arguments).city)).toEqual(
      [0, 1, 2, 3, 4, 5].map((i) => `City number ${i}`),
    );
    // The first of six calls is heard in the first part of the stream, not at its end.
    expect((heardAt[0] ?? finishedAt) - started).toBeLessThan((finishedAt - started) / 2);
    expect(turn.usage.outputTokens).toBeGreaterThan(0);
  });

  it("turns a cut or garbled stream into a retryable PROVIDER_ERROR instead of hanging", async () => {
    for (const model of ["cut", "garbled"]) {
      const error = await ask(model).catch((e: unknown) => e);
      expect(error, model).toBeInstanceOf(RetryableError);
      expect(error).toMatchObject({ code: "PROVIDER_ERROR" });
    }
  });
});

describe("createProviderRegistry", () => {
  it("resolves configured providers by prefix and nothing else", () => {
    const registry = createProviderRegistry({ fake: { baseURL: "http://127.0.0.1:1/v1" }, openai: { apiKey: "k" } });
    expect(registry.resolve("fake:demo")?.model).toBe("demo");
    expect(registry.resolve("openai:gpt-4o-mini")?.provider.name).toBe("openai");
    expect(registry.resolve("anthropic:claude")).toBeUndefined();
    expect(registry.resolve("gpt-4o")).toBeUndefined();
    expect(registry.providers().sort()).toEqual(["fake", "openai"]);
  });
});
