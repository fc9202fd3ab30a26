import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Svcm, type Service } from "@nats-io/services";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnActors, waitForActors, type ActorProcesses } from "@toolformer/cli";
import {
  ContentType,
  encode,
  Header,
  PUBLIC_SUBJECTS,
  SERVICE_NAMES,
  type OrchestrateReply,
} from "@toolformer/protocol";
import { SpanKindNumber, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "@toolformer/testing";
import { startEnvironment, waitForCatalog, type TestEnvironment } from "../support/environment.ts";

const MCP_SERVER = fileURLToPath(new URL("../support/mcp-server.ts", import.meta.url));
const CLIENT_TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const CLIENT_TRACEPARENT = `00-${CLIENT_TRACE_ID}-b7ad6b7169203331-01`;
const CUSTOM_SPECULATION_SERVICE = "traces-test-speculation";
const ACTORS = { dispatcher: 1, scheduler: 1, "rate-limiter": 1, executor: 1, speculation: 1 } as const;

describe("traces of a request across the five actors, each its own process, exported over OTLP/HTTP", () => {
  let env: TestEnvironment;
  let receiver: OtlpReceiver;
  let actors: ActorProcesses;
  let toolProvider: NatsConnection;
  let service: Service;
  let logDir: string;
  let reply: OrchestrateReply;
  let spans: ReceivedSpan[];
  const remoteHeaders: Record<string, string>[] = [];

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    env = await startEnvironment({
      copies: { dispatcher: 0, scheduler: 0, rateLimiter: 0, executor: 0, speculation: 0 },
      waitForTools: [],
      scenarios: {
        traced: {
          turns: [
            {
              toolCalls: [
                { id: "local", name: "echo", arguments: { message: "hi" } },
                { id: "remote", name: "quote", arguments: { symbol: "ACME" } },
                { id: "broken", name: "closed_market", arguments: {} },
                { id: "mcp", name: "mcp_trace_context", arguments: {} },
              ],
            },
            { toolCalls: [{ id: "again", name: "quote", arguments: { symbol: "INIT" } }] },
            { text: "done" },
          ],
        },
      },
    });
    // A remote tool as any team would write it, with a rate limit, so its calls wait for a permit.
    toolProvider = await env.nats.connect("tool-provider");
    service = await new Svcm(toolProvider).add({ name: "market", version: "1.0.0" });
    service.addEndpoint("quote", {
      subject: "market.quote",
      metadata: {
        "toolformer.parameters": '{"type":"object","properties":{"symbol":{"type":"string"}}}',
        "toolformer.rate_limit": '{"limit":100,"intervalMs":1000}',
      },
      handler: (_error, msg) => {
        remoteHeaders.push(Object.fromEntries([...(msg.headers?.keys() ?? [])].map((k) => [k, msg.headers!.get(k)])));
        msg.respond(JSON.stringify({ price: 1 }));
      },
    });
    service.addEndpoint("closed_market", {
      subject: "market.closed",
      metadata: { "toolformer.parameters": '{"type":"object"}' },
      handler: (_error, msg) => msg.respondError(503, "market closed"),
    });
    logDir = mkdtempSync(join(tmpdir(), "toolformer-traces-"));
    actors = spawnActors(
      ACTORS,
      {
        ...process.env,
        NATS_URL: env.natsUrl,
        LOG_LEVEL: "info",
        FAKE_LLM_URL: env.fake.url,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        TF_MCP_SERVERS: JSON.stringify({ local: { command: process.execPath, args: [MCP_SERVER] } }),
      },
      {
        output: { dir: logDir },
        credentials: env.nats.credentials,
        envForCopy: (name) => (name === "speculation" ? { OTEL_SERVICE_NAME: CUSTOM_SPECULATION_SERVICE } : {}),
      },
    );
    await waitForActors(env.natsUrl, ACTORS, 60_000, env.nats.credentials("admin"));
    await waitForCatalog(env.client, ["echo", "quote", "closed_market", "mcp_trace_context"], 30_000);

    // Sent with the client's own trace context: the request's trace continues it.
    const h = headers();
    h.set(Header.contentType, ContentType.json);
    h.set(Header.traceparent, CLIENT_TRACEPARENT);
    h.set(Header.tracestate, "client=1");
    const request = { id: "traced-1", prompt: "trace me", model: "fake:traced", options: { timeoutMs: 30_000 } };
    const answer = await env.client.nc.request(PUBLIC_SUBJECTS.request, encode(request, ContentType.json), {
      headers: h,
      timeout: 35_000,
    });
    reply = answer.json<OrchestrateReply>();
    // A stopped actor flushes what it has not exported yet: every span is in by the time all have exited.
    await actors.stop();
    spans = receiver.spans();
  }, 120_000);

  afterAll(async () => {
    await actors?.stop();
    await service?.stop();
    await toolProvider?.close();
    await env?.[Symbol.asyncDispose]();
    await receiver?.close();
  });

  const one = (predicate: (span: ReceivedSpan) => boolean, what: string): ReceivedSpan => {
    const found = spans.filter(predicate);
    expect(found, what).toHaveLength(1);
    return found[0]!;
  };
  const byId = (spanId: string) => spans.find((span) => span.spanId === spanId);
  /** The span's ancestors, nearest first, as far as they were exported. */
  const ancestors = (span: ReceivedSpan): ReceivedSpan[] => {
    const chain: ReceivedSpan[] = [];
    for (let parent = byId(span.parentSpanId); parent; parent = byId(parent.parentSpanId)) chain.push(parent);
    return chain;
  };

  it("answers, and every export was OTLP JSON on /v1/traces", () => {
    expect(reply.status).toBe("completed");
    expect(reply.rounds).toBe(2);
    expect(receiver.refused()).toEqual([]);
  });

  it("puts the whole request in one trace, the client's, started by the front door's span", () => {
    const request = spans.filter((span) => span.attributes["toolformer.request.id"] === "traced-1");
    expect(request.length).toBeGreaterThan(0);
    expect(new Set(request.map((span) => span.traceId))).toEqual(new Set([CLIENT_TRACE_ID]));
    const front = one((span) => span.name === "orchestrate.request", "the front door's span");
    expect(front).toMatchObject({ traceId: CLIENT_TRACE_ID, parentSpanId: "b7ad6b7169203331" });
    expect(front.kind).toBe(SpanKindNumber.server);
    expect(front.service).toBe(SERVICE_NAMES.dispatcher);
  });

  it("hangs the model turns, the rounds, the permit waits and the tool calls under the request's run, across processes", () => {
    const run = one((span) => span.name === "orchestrate.run", "the run's span");
    expect(run.attributes).toMatchObject({
      "gen_ai.request.model": "fake:traced",
      "toolformer.request.status": "completed",
    });
    expect(ancestors(run).map((span) => span.name)).toEqual(["process dispatcher", "orchestrate.request"]);

    const chats = spans.filter((span) => span.name === "chat traced");
    expect(chats).toHaveLength(3);
    for (const chat of chats) expect(chat.parentSpanId).toBe(run.spanId);

    const rounds = spans.filter((span) => span.name === "orchestrate.round");
    expect(rounds.map((span) => span.attributes["toolformer.round"]).sort()).toEqual([1, 2]);
    for (const round of rounds) {
      expect(round.service).toBe(SERVICE_NAMES.scheduler);
      // The scheduler's process span is the child of the run's span in the dispatcher's process.
      expect(
        ancestors(round)
          .slice(0, 2)
          .map((span) => [span.name, span.service]),
      ).toEqual([
        ["process scheduler", SERVICE_NAMES.scheduler],
        ["orchestrate.run", SERVICE_NAMES.dispatcher],
      ]);
    }

    const tools = spans.filter((span) => span.name.startsWith("execute_tool "));
    expect(tools.map((span) => span.name).sort()).toEqual([
      "execute_tool closed_market",
      "execute_tool echo",
      "execute_tool mcp_trace_context",
      "execute_tool quote",
      "execute_tool quote",
    ]);
    for (const tool of tools) {
      expect(tool.service).toBe(SERVICE_NAMES.executor);
      const [process, round] = ancestors(tool);
      expect(process).toMatchObject({ name: `process exec_${tool.attributes["gen_ai.tool.name"]}` });
      expect(process!.kind).toBe(SpanKindNumber.consumer);
      expect(round).toMatchObject({ name: "orchestrate.round", service: SERVICE_NAMES.scheduler });
    }

    // A permit wait is its own span in the limiter's process, under the span that asked: a tool's
    // delivery, or the run for a model turn's permit. A grant that reached its caller late is confirmed
    // by a second, marked request.
    const waits = spans.filter((span) => span.name === "rate_limit.wait");
    for (const wait of waits) {
      expect(wait.service).toBe(SERVICE_NAMES.rateLimiter);
      expect(wait.attributes["toolformer.ratelimit.granted"]).toBe(true);
      expect(wait.attributes["toolformer.ratelimit.waited_ms"]).toBeGreaterThanOrEqual(0);
      const asker = byId(wait.parentSpanId);
      const target = String(wait.attributes["toolformer.ratelimit.target"]);
      // Every tool has a scope (block-only without a limit: its 429 blocks it), asked about until its
      // executor knows it is not blocked.
      if (target.startsWith("tool:")) {
        expect(wait.attributes["toolformer.ratelimit.scopes"]).toContain(target);
        expect(asker).toMatchObject({ name: `process exec_${target.slice(5)}`, service: SERVICE_NAMES.executor });
      } else {
        expect(wait.attributes["toolformer.ratelimit.target"]).toBe("model:fake:traced");
        expect(asker?.spanId).toBe(run.spanId);
      }
    }
    const firstAsks = waits.filter((wait) => wait.attributes["toolformer.ratelimit.confirm"] === false);
    expect(
      firstAsks
        .filter((wait) => wait.attributes["toolformer.ratelimit.target"] === "tool:quote")
        .map((wait) => wait.attributes["toolformer.call.id"])
        .sort(),
    ).toEqual(["again", "remote"]);
  });

  it("records the GenAI attributes of each turn, with the usage the fake model reported", () => {
    const chats = spans
      .filter((span) => span.name === "chat traced")
      .sort((a, b) => (a.startNanos < b.startNanos ? -1 : 1));
    const reported = reply.usage?.rounds ?? [];
    expect(reported).toHaveLength(3);
    chats.forEach((chat, i) => {
      expect(chat.kind).toBe(SpanKindNumber.client);
      expect(chat.attributes).toMatchObject({
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "fake",
        "gen_ai.request.model": "traced",
        "gen_ai.response.model": "traced",
        "gen_ai.usage.input_tokens": reported[i]!.inputTokens,
        "gen_ai.usage.output_tokens": reported[i]!.outputTokens,
        "gen_ai.response.finish_reasons": [i < 2 ? "tool_calls" : "stop"],
      });
      expect(reported[i]!.inputTokens).toBeGreaterThan(0);
      expect(chat.attributes["gen_ai.response.time_to_first_chunk"]).toBeGreaterThan(0);
    });
  });

  it("names each tool call and marks the failed one with its error type; arguments stay out by default", () => {
    const calls = spans.filter((span) => span.name.startsWith("execute_tool "));
    expect(calls.map((span) => span.attributes["gen_ai.tool.call.id"]).sort()).toEqual(
      ["again", "broken", "local", "mcp", "remote"].sort(),
    );
    for (const call of calls) {
      expect(call.attributes).toMatchObject({
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.type": "function",
      });
      expect(call.attributes).not.toHaveProperty("gen_ai.tool.call.arguments");
    }
    const broken = one((span) => span.attributes["gen_ai.tool.call.id"] === "broken", "the failed call's span");
    expect(broken.statusCode).toBe(2);
    expect(broken.attributes["error.type"]).toBe("TOOL_FAILED");
  });

  it("hands the tool span's context to a remote service (headers) and an MCP server (params._meta)", () => {
    const remote = spans
      .filter((span) => span.name === "execute_tool quote")
      .map((span) => span.spanId)
      .sort();
    const sent = remoteHeaders.map((h) => h.traceparent ?? "");
    expect(sent.map((traceparent) => traceparent.split("-")[2]).sort()).toEqual(remote);
    for (const traceparent of sent) expect(traceparent.split("-")[1]).toBe(CLIENT_TRACE_ID);

    const mcp = one((span) => span.name === "execute_tool mcp_trace_context", "the MCP call's span");
    const result = reply.toolCalls.find((call) => call.id === "mcp")?.result as { traceparent?: string } | undefined;
    expect(result?.traceparent).toBe(`00-${CLIENT_TRACE_ID}-${mcp.spanId}-01`);
  });

  it("names each actor's service by default, and honours OTEL_SERVICE_NAME", () => {
    const services = new Set(spans.map((span) => span.service));
    for (const name of [
      SERVICE_NAMES.dispatcher,
      SERVICE_NAMES.scheduler,
      SERVICE_NAMES.rateLimiter,
      SERVICE_NAMES.executor,
    ])
      expect(services).toContain(name);
    expect(services).toContain(CUSTOM_SPECULATION_SERVICE);
    expect(services).not.toContain(SERVICE_NAMES.speculation);
  });

  it("writes the trace and span ids of a call on its log lines: the failed call's line and span agree", () => {
    const lines = readdirSync(logDir)
      .filter((file) => file.startsWith("executor"))
      .flatMap((file) => readFileSync(join(logDir, file), "utf8").split("\n"))
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const failed = lines.find((line) => line.msg === "tool failed" && line.callId === "broken");
    expect(failed).toBeDefined();
    const span = one((s) => s.attributes["gen_ai.tool.call.id"] === "broken", "the failed call's span");
    expect(failed).toMatchObject({ requestId: "traced-1", trace_id: span.traceId, span_id: span.parentSpanId });
    expect(byId(span.parentSpanId)?.name).toBe("process exec_closed_market");
  });
});
