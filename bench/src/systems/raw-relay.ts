import { connect, type NatsConnection } from "@nats-io/transport-node";
import OpenAI from "openai";
import type { ChatCompletionMessageParam, ChatCompletionTool } from "openai/resources/chat/completions";
import { connectionOptions, type NatsAuth } from "@toolformer/client";
import { AGENT_ANSWER, AGENT_PROMPT, AGENT_SCENARIO, AGENT_TOOL, AGENT_TOOL_SUBJECT } from "../agent-scenario.ts";
import { NOOP_ANSWER, NOOP_TOOL, noopScenario } from "../noop-scenario.ts";
import { runInProcess } from "./in-process.ts";

/** How long the relay waits for the tool, as the stack would for a remote tool. */
const TOOL_TIMEOUT_MS = 60_000;

const tool = (name: string, description: string, parameters: Record<string, unknown>): ChatCompletionTool => ({
  type: "function",
  function: { name, description, parameters },
});
const AGENT_TOOLS = [
  tool(AGENT_TOOL, "The weather in a city", {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
  }),
];
const NOOP_TOOLS = [tool(NOOP_TOOL, "Returns its arguments", { type: "object" })];

/**
 * The agent benchmark's floor: one process doing the request's external hops and nothing else (two
 * streamed model turns through the official SDK and the NATS request to the tool), with no durability,
 * no events, no limits. What the stack costs beyond this is its machinery.
 */
export interface RawRelay {
  request(): Promise<void>;
  /**
   * The throughput workload's request without the machinery: the model's two streamed turns of the
   * `noop-<calls>` scenario, its `calls` no-op calls run in this process between them (as the in-process
   * system runs them). The floor any system pays that must ask the model, whatever it does with the calls.
   * `between`, when given, is awaited beside the calls: other work the request does between the turns
   * (the bare durable hops of the calls, for the floor of a system that stores them).
   */
  noopRequest(calls: number, concurrency: number, between?: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

interface StreamedTurn {
  text: string;
  calls: { id: string; name: string; arguments: string }[];
}

async function streamTurn(
  openai: OpenAI,
  messages: ChatCompletionMessageParam[],
  model = AGENT_SCENARIO,
  tools = AGENT_TOOLS,
): Promise<StreamedTurn> {
  const stream = await openai.chat.completions.create({
    model,
    messages,
    tools,
    stream: true,
    stream_options: { include_usage: true },
  });
  const turn: StreamedTurn = { text: "", calls: [] };
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta;
    if (delta?.content) turn.text += delta.content;
    for (const fragment of delta?.tool_calls ?? []) {
      const call = (turn.calls[fragment.index] ??= { id: "", name: "", arguments: "" });
      if (fragment.id) call.id = fragment.id;
      if (fragment.function?.name) call.name = fragment.function.name;
      call.arguments += fragment.function?.arguments ?? "";
    }
  }
  return turn;
}

/** `modelBaseUrl` is the fake model's OpenAI base URL (`…/v1`); the relay connects as the server's admin. */
export async function startRawRelay(natsUrl: string, auth: NatsAuth, modelBaseUrl: string): Promise<RawRelay> {
  const nc: NatsConnection = await connect({ ...connectionOptions(natsUrl, auth), name: "bench-raw-relay" });
  const openai = new OpenAI({ apiKey: "fake-key", baseURL: modelBaseUrl, maxRetries: 0 });
  return {
    async request() {
      const messages: ChatCompletionMessageParam[] = [{ role: "user", content: AGENT_PROMPT }];
      const first = await streamTurn(openai, messages);
      const call = first.calls[0];
      if (!call || call.name !== AGENT_TOOL) throw new Error(`relay: the model asked for ${JSON.stringify(first)}`);
      const result = await nc.request(AGENT_TOOL_SUBJECT, call.arguments, { timeout: TOOL_TIMEOUT_MS });
      messages.push(
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } }],
        },
        { role: "tool", tool_call_id: call.id, content: result.string() },
      );
      const second = await streamTurn(openai, messages);
      if (second.text !== AGENT_ANSWER) throw new Error(`relay: the model answered ${JSON.stringify(second)}`);
    },
    async noopRequest(calls, concurrency, between) {
      const model = noopScenario(calls);
      const messages: ChatCompletionMessageParam[] = [{ role: "user", content: "go" }];
      const first = await streamTurn(openai, messages, model, NOOP_TOOLS);
      if (first.calls.length !== calls) throw new Error(`relay: the model asked for ${first.calls.length} calls`);
      const [results] = await Promise.all([
        runInProcess(calls, concurrency, async (index) => first.calls[index]!.arguments),
        between?.(),
      ]);
      messages.push(
        {
          role: "assistant",
          content: null,
          tool_calls: first.calls.map(({ id, name, arguments: args }) => ({
            id,
            type: "function" as const,
            function: { name, arguments: args },
          })),
        },
        ...first.calls.map(({ id }, index): ChatCompletionMessageParam => ({
          role: "tool",
          tool_call_id: id,
          content: String(results[index]),
        })),
      );
      const second = await streamTurn(openai, messages, model, NOOP_TOOLS);
      if (second.text !== NOOP_ANSWER) throw new Error(`relay: the model answered ${JSON.stringify(second)}`);
    },
    stop: () => nc.close(),
  };
}
