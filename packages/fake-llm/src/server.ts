import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { anthropicError, anthropicMessage, anthropicStreamEvents, normalizeAnthropic } from "./anthropic-api.ts";
import { BUILTIN_SCENARIOS } from "./builtin.ts";
import { normalizeOpenAi, openAiCompletion, openAiError, openAiStreamEvents } from "./openai-api.ts";
import { nextTurn, type NormalizedConversation, type Scenario, type Turn } from "./scenario.ts";
import { formatSse, type SseEvent } from "./sse.ts";
import { estimateTokens, planPieces, type Piece } from "./stream-plan.ts";

const MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface ReceivedRequest {
  api: "openai" | "anthropic";
  scenario: string;
  body: unknown;
  conversation: NormalizedConversation;
}

export interface FakeLlmServer extends AsyncDisposable {
  /** Root URL; the Anthropic SDK takes it as is. */
  url: string;
  /** The OpenAI SDK's baseURL (root + `/v1`). */
  openaiBaseUrl: string;
  anthropicBaseUrl: string;
  /** Every model request served, oldest first. */
  received: ReceivedRequest[];
  addScenario(name: string, scenario: Scenario): void;
  close(): Promise<void>;
}

export interface FakeLlmOptions {
  port?: number;
  host?: string;
  /** Added to (and overriding) the built-in `demo` and `echo`. */
  scenarios?: Record<string, Scenario>;
}

type Usage = { input: number; output: number };
type Api = {
  name: "openai" | "anthropic";
  toolIdPrefix: string;
  normalize(body: never): NormalizedConversation;
  success(model: string, turn: Turn, usage: Usage): object;
  stream(
    model: string,
    pieces: Piece[],
    usage: Usage,
    body: { stream_options?: { include_usage?: boolean } },
  ): SseEvent[];
  error(status: number, message: string): object;
};

const APIS: Record<string, Api> = {
  "/v1/chat/completions": {
    name: "openai",
    toolIdPrefix: "call_",
    normalize: normalizeOpenAi,
    success: openAiCompletion,
    stream: (model, pieces, usage, body) =>
      openAiStreamEvents(model, pieces, usage, body.stream_options?.include_usage === true),
    error: openAiError,
  },
  "/v1/messages": {
    name: "anthropic",
    toolIdPrefix: "toolu_",
    normalize: normalizeAnthropic,
    success: anthropicMessage,
    stream: (model, pieces, usage) => anthropicStreamEvents(model, pieces, usage),
    error: anthropicError,
  },
};

/**
 * A model server that answers from scripts: the request's `model` names the scenario. It speaks the
 * real OpenAI Chat Completions and Anthropic Messages shapes, so the official SDKs talk to it unchanged.
 */
export async function startFakeLlm(options: FakeLlmOptions = {}): Promise<FakeLlmServer> {
  const scenarios = new Map<string, Scenario>(Object.entries({ ...BUILTIN_SCENARIOS, ...options.scenarios }));
  const received: ReceivedRequest[] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const api = APIS[(req.url ?? "").split("?")[0] ?? ""];
    if (req.method !== "POST" || !api)
      return send(res, 404, { error: { message: `no route ${req.method} ${req.url}` } });
    let body: { model?: unknown };
    try {
      body = JSON.parse(await readBody(req)) as { model?: unknown };
    } catch (error) {
      return send(res, 400, api.error(400, `body is not JSON: ${String(error)}`));
    }
    if (typeof body !== "object" || body === null || typeof body.model !== "string")
      return send(res, 400, api.error(400, "model is required"));
    const scenario = scenarios.get(body.model);
    if (!scenario)
      return send(res, 404, api.error(404, `The model '${body.model}' does not exist (no such fake scenario)`));
    let conversation: NormalizedConversation;
    try {
      conversation = api.normalize(body as never);
    } catch (error) {
      return send(res, 400, api.error(400, `malformed ${api.name} request: ${String(error)}`));
    }
    received.push({ api: api.name, scenario: body.model, body, conversation });
    const turn = await nextTurn(scenario, conversation);
    if (turn.error) {
      if (turn.timeToFirstTokenMs) await sleep(turn.timeToFirstTokenMs);
      const headers: Record<string, string> =
        turn.error.retryAfterMs === undefined
          ? {}
          : {
              "retry-after-ms": String(turn.error.retryAfterMs),
              "retry-after": String(Math.ceil(turn.error.retryAfterMs / 1000)),
            };
      return send(res, turn.error.status, api.error(turn.error.status, turn.error.message), headers);
    }
    const usage = {
      input: estimateTokens(JSON.stringify(body)),
      output: estimateTokens(JSON.stringify({ text: turn.text, toolCalls: turn.toolCalls })),
    };
    if ((body as { stream?: unknown }).stream === true) {
      return streamTurn(res, turn, api.stream(body.model, planPieces(turn, api.toolIdPrefix), usage, body as never));
    }
    await sleep(
      (turn.timeToFirstTokenMs ?? 0) + (turn.tokensPerSecond ? (1000 * usage.output) / turn.tokensPerSecond : 0),
    );
    send(res, 200, api.success(body.model, turn, usage));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => send(res, 500, { error: { message: String(error) } }));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve));
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("fake LLM server has no address");
  const url = `http://${options.host ?? "127.0.0.1"}:${address.port}`;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return {
    url,
    openaiBaseUrl: `${url}/v1`,
    anthropicBaseUrl: url,
    received,
    addScenario: (name, scenario) => void scenarios.set(name, scenario),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Sends the events as server-sent events: the first after the time to first token, each next one after
 * the time its tokens take at the turn's pace; a scripted fault breaks the stream where it says.
 */
async function streamTurn(res: ServerResponse, turn: Turn, events: SseEvent[]): Promise<void> {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  if (turn.timeToFirstTokenMs) await sleep(turn.timeToFirstTokenMs);
  // An unpaced turn goes out in one write, as a fast model's whole answer arrives in one read.
  const atOnce = !turn.tokensPerSecond && !turn.streamFault;
  if (atOnce) res.cork();
  for (const [index, event] of events.entries()) {
    if (res.destroyed) return; // the client went away
    if (turn.streamFault && index === turn.streamFault.afterChunks) {
      if (turn.streamFault.kind === "cut") return void res.destroy();
      res.end('data: {"id": "chatcmpl-broken", "choices": [{"delta": {"content": \n\n');
      return;
    }
    if (turn.tokensPerSecond && event.tokens > 0) await sleep((1000 * event.tokens) / turn.tokensPerSecond);
    res.write(formatSse(event));
  }
  if (atOnce) res.uncork();
  res.end();
}

function send(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error(`body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
