import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  CallToolResultSchema,
  ErrorCode as McpErrorCode,
  McpError,
  type CallToolResult,
  type Progress,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import { ErrorCode, TerminalError, TOOL_NAME_PATTERN, type ToolDefinition } from "@toolformer/protocol";
import { abortable, backoffDelayMs, traceCarrier, type BackoffPolicy, type Logger } from "@toolformer/runtime";
import { argumentChecker } from "@toolformer/tool-calls";
import type { ToolInvoker } from "./invokers.ts";
import { unknownOverrides } from "./mcp-annotations.ts";
import { PROCESS_SECRETS, resolveMcpHeaders, type SecretSources } from "./mcp-headers.ts";
import type { McpServers } from "./mcp-servers.ts";
import { mcpToolDefinition } from "./mcp-tool-definition.ts";
import { retryAfterSecondsMs, ToolRateLimitedError } from "./tool-rate-limited.ts";

type McpServer = McpServers[string];

/** Restarts of a server that closed: quick at first, then every 30 s at most while it keeps failing. */
export const MCP_RESTART_BACKOFF: BackoffPolicy = { firstDelayMs: 250, maxDelayMs: 30_000 };

/** Where a mounted server's tools go: the executor hosts exactly the tools it is offered, each time. */
export interface McpToolHost {
  offer(invokers: ToolInvoker[]): Promise<void>;
  log: Logger;
}

export interface MountedMcpServer {
  name: string;
  close(): Promise<void>;
}

/**
 * Connects to one MCP server and keeps its tools offered, read-only, idempotent or neither by their
 * annotations or the operator's overrides (`mcp-annotations.ts`):
 * - the tools are listed again when the server says they changed (`notifications/tools/list_changed`);
 * - a server that closes (a stdio process that crashed, an HTTP server that went away) is connected
 *   again with backoff; its calls fail with a message that says so meanwhile, and an idempotent call is
 *   tried again by the executor as for any failure that may pass;
 * - a call is a `tools/call` bounded by the call's deadline, run as a task (`tasks/get` until it ends,
 *   `tasks/cancel` when abandoned) where the server and the tool support tasks;
 * - the server's progress notifications (and a task's status messages) become `tool.progress` events,
 *   and each one restarts the tool's timeout (`call-flow.ts`): a call that reports progress is alive;
 * - an abandoned call sends `notifications/cancelled` (the SDK does, from the call's AbortSignal).
 */
export async function mountMcpServer(
  name: string,
  server: McpServer,
  host: McpToolHost,
  secrets: SecretSources = PROCESS_SECRETS,
): Promise<MountedMcpServer> {
  const connection = new McpServerConnection(name, server, host, secrets);
  await connection.connect();
  return { name, close: () => connection.close() };
}

class McpServerConnection {
  private client: Client | undefined;
  private closing = false;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;

  private readonly name: string;
  private readonly server: McpServer;
  private readonly host: McpToolHost;
  private readonly secrets: SecretSources;

  constructor(name: string, server: McpServer, host: McpToolHost, secrets: SecretSources) {
    this.name = name;
    this.server = server;
    this.host = host;
    this.secrets = secrets;
  }

  async connect(): Promise<void> {
    const client = new Client(
      { name: "toolformer-executor", version: "1.0.0" },
      {
        listChanged: {
          tools: {
            onChanged: (error, tools) => {
              if (error)
                return this.host.log.warn({ server: this.name, err: error }, "could not list the MCP tools again");
              if (this.client === client) void this.offer(tools ?? []);
            },
          },
        },
      },
    );
    client.onclose = () => this.closed(client);
    await client.connect(this.transport());
    const { tools } = await client.listTools();
    this.client = client;
    this.restarts = 0;
    await this.offer(tools);
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.restartTimer);
    await this.client?.close();
  }

  private transport(): Transport {
    const { server } = this;
    if ("url" in server) {
      const headers = resolveMcpHeaders(server.headers, this.secrets);
      return new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers } });
    }
    return new StdioClientTransport({
      command: server.command,
      args: server.args,
      ...(server.env ? { env: server.env } : {}),
      stderr: "ignore",
    });
  }

  private closed(client: Client): void {
    if (this.closing || this.client !== client) return;
    this.client = undefined;
    this.host.log.warn({ server: this.name }, "an MCP server closed; connecting to it again");
    this.restartLater();
  }

  private restartLater(): void {
    const pauseMs = backoffDelayMs(++this.restarts, MCP_RESTART_BACKOFF);
    this.restartTimer = setTimeout(() => {
      if (this.closing) return;
      this.connect().then(
        () => this.host.log.info({ server: this.name }, "an MCP server is back"),
        (error: unknown) => {
          this.host.log.warn(
            { server: this.name, err: error, restarts: this.restarts },
            "an MCP server did not come back",
          );
          this.restartLater();
        },
      );
    }, pauseMs);
  }

  private async offer(tools: Tool[]): Promise<void> {
    const invokers: ToolInvoker[] = [];
    const serverVersion = this.client?.getServerVersion()?.version ?? "";
    for (const tool of tools) {
      const offered = TOOL_NAME_PATTERN.test(tool.name)
        ? mcpToolDefinition(this.server, tool, serverVersion)
        : { ok: false as const, reason: `the name does not match ${TOOL_NAME_PATTERN}` };
      if (offered.ok) invokers.push(this.invoker(tool, offered.definition));
      else
        this.host.log.warn({ server: this.name, tool: tool.name, reason: offered.reason }, "not offering an MCP tool");
    }
    const names = tools.map((tool) => tool.name);
    const uncached = Object.keys(this.server.cache ?? {}).filter((name) => !names.includes(name));
    for (const tool of [...unknownOverrides(this.server, names), ...uncached])
      this.host.log.warn({ server: this.name, tool }, "an override names a tool the MCP server does not list");
    await this.host.offer(invokers);
    this.host.log.info(
      { server: this.name, tools: invokers.map((i) => i.definition.name) },
      "offering an MCP server's tools",
    );
  }

  private invoker(tool: Tool, definition: ToolDefinition): ToolInvoker {
    const check = argumentChecker(tool.inputSchema);
    return {
      definition,
      invoke: async (args, ctx) => {
        check(args);
        const client = this.client;
        if (!client)
          throw new Error(`the MCP server ${this.name} is not connected; connecting again (try ${this.restarts})`);
        const result = await callTool(client, tool, (args ?? {}) as Record<string, unknown>, ctx);
        if (result.isError) {
          const text = textOf(result.content) || "the MCP tool failed";
          throw rateLimitOf(result, text) ?? new TerminalError(ErrorCode.TOOL_FAILED, text);
        }
        return result.structuredContent ?? contentValue(result.content);
      },
    };
  }
}

type CallContext = Parameters<ToolInvoker["invoke"]>[1];

/**
 * One `tools/call`, as a task where the server and the tool support tasks (the SDK decides from the
 * server's capabilities and the tool's `execution.taskSupport`). A call that is not a task is abandoned
 * with `notifications/cancelled` (the SDK sends it from the signal). A task is abandoned with
 * `tasks/cancel`, even when the signal fires before the server's answer that created it has come: the
 * stream is therefore not given the signal (it would drop that answer), and goes on in the background
 * until the server says the task is cancelled, while the call returns at once.
 */
async function callTool(
  client: Client,
  tool: Tool,
  args: Record<string, unknown>,
  ctx: CallContext,
): Promise<CallToolResult> {
  const asTask = runsAsTask(client, tool);
  let taskId: string | undefined;
  const cancelTask = () => {
    if (taskId !== undefined) client.experimental.tasks.cancelTask(taskId).catch(() => undefined);
  };
  const report = (partial: unknown) => void ctx.progress(partial).catch(() => undefined);
  let lastStatus = "";
  // The trace context travels in `_meta` (MCP's place for it): the server's spans join the call's trace.
  const params = { name: tool.name, arguments: args, _meta: traceCarrier(ctx.traceparent) };
  const stream = client.experimental.tasks.callToolStream(params, CallToolResultSchema, {
    timeout: Math.max(1, ctx.deadline - Date.now()),
    onprogress: (progress) => report(progressOf(progress)),
    ...(asTask ? {} : { signal: ctx.signal }),
  });
  const run = async (): Promise<CallToolResult> => {
    for await (const message of stream) {
      switch (message.type) {
        case "taskCreated":
          taskId = message.task.taskId;
          if (ctx.signal.aborted) cancelTask();
          break;
        case "taskStatus": {
          // Each poll answers; only a change is news (and a sign of life).
          const { status, statusMessage } = message.task;
          const news = `${status}\n${statusMessage ?? ""}`;
          if (news !== lastStatus) report({ task: status, ...(statusMessage ? { message: statusMessage } : {}) });
          lastStatus = news;
          break;
        }
        case "result":
          return message.result;
        case "error":
          throw await failureOf(client, message.error, taskId);
      }
    }
    throw new Error(`the MCP server ended the call of ${tool.name} without a result`);
  };
  if (!asTask) return run();
  const running = run();
  running.catch(() => undefined); // after an abort, only the task's end is waited for
  ctx.signal.addEventListener("abort", cancelTask, { once: true });
  try {
    return await abortable(running, ctx.signal);
  } finally {
    ctx.signal.removeEventListener("abort", cancelTask);
  }
}

/** As the SDK decides it (in `callToolStream`): the server runs tool calls as tasks, and this tool may be one. */
function runsAsTask(client: Client, tool: Tool): boolean {
  const support = tool.execution?.taskSupport;
  return (
    client.getServerCapabilities()?.tasks?.requests?.tools?.call !== undefined &&
    (support === "required" || support === "optional")
  );
}

/** What a progress notification reports, as the `partial` of a `tool.progress` event. */
function progressOf({ progress, total, message }: Progress): Record<string, unknown> {
  return { progress, ...(total === undefined ? {} : { total }), ...(message === undefined ? {} : { message }) };
}

/**
 * The error a failed call throws: arguments the server refused are the caller's to fix; a task that
 * failed is reported with the text of its result, which the server stored with the failure.
 */
async function failureOf(client: Client, error: Error, taskId: string | undefined): Promise<Error> {
  if (error instanceof McpError && error.code === McpErrorCode.InvalidParams)
    return new TerminalError(ErrorCode.INVALID_ARGUMENTS, error.message);
  if (error instanceof McpError && error.code === TOO_MANY_REQUESTS) {
    const data = (error.data ?? {}) as { retryAfter?: unknown };
    return new ToolRateLimitedError(error.message, retryAfterSecondsMs(String(data.retryAfter ?? "")));
  }
  if (taskId === undefined) return error;
  const stored = await client.experimental.tasks
    .getTaskResult(taskId, CallToolResultSchema)
    .catch((): undefined => undefined);
  const text = stored ? textOf(stored.content) : "";
  return text ? new TerminalError(ErrorCode.TOOL_FAILED, text) : error;
}

/** A JSON-RPC error code some servers answer a rate-limited call with (there is none in the specification). */
const TOO_MANY_REQUESTS = 429;
const RATE_LIMITED_TEXT = /\b429\b|rate[ -]?limit|too many requests/i;
const RETRY_AFTER_TEXT = /retry[ -]after\D{0,3}(\d+(?:\.\d+)?)\s*(ms|milliseconds?)?/i;

/**
 * A failed result that says the tool is rate limited: `_meta.retryAfter` (seconds), or, since MCP has
 * no error for it and servers built on the SDK's McpServer can only answer a text, a text that says
 * so ("429", "rate limit", "too many requests"), with "retry after N" (seconds, or N ms) when given.
 */
export function rateLimitOf(result: CallToolResult, text: string): ToolRateLimitedError | undefined {
  const meta = result._meta as { retryAfter?: unknown } | undefined;
  if (meta?.retryAfter !== undefined)
    return new ToolRateLimitedError(text, retryAfterSecondsMs(String(meta.retryAfter)));
  if (!RATE_LIMITED_TEXT.test(text)) return undefined;
  const [, amount, ms] = RETRY_AFTER_TEXT.exec(text) ?? [];
  return new ToolRateLimitedError(text, amount === undefined ? undefined : Number(amount) * (ms ? 1 : 1_000));
}

/** The parts of an MCP tool result's `content` (text, image, resource, ...); only text is read here. */
type ContentPart = { type: string; text?: string };
const partsOf = (content: unknown): ContentPart[] => (Array.isArray(content) ? (content as ContentPart[]) : []);

function textOf(content: unknown): string {
  return partsOf(content)
    .flatMap((part) => (part.type === "text" && part.text ? [part.text] : []))
    .join("\n");
}

/** A lone text part is the result itself (JSON when it parses); anything richer stays as MCP content. */
function contentValue(content: unknown): unknown {
  const parts = partsOf(content);
  const [only] = parts;
  if (parts.length !== 1 || only?.type !== "text") return Array.isArray(content) ? content : null;
  const text = only.text ?? "";
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
