import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ErrorCode as McpErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { ErrorCode, TerminalError, TOOL_NAME_PATTERN, type ToolDefinition } from "@toolformer/protocol";
import { argumentChecker } from "@toolformer/tool-calls";
import type { ToolInvoker } from "./invokers.ts";
import { mcpToolEffects, overriddenClass, unknownOverrides } from "./mcp-annotations.ts";
import type { McpServers } from "./mcp-servers.ts";

export interface MountedMcpServer {
  name: string;
  invokers: ToolInvoker[];
  /** Tools of the server that cannot be offered (their names do not fit), with why. */
  skipped: { tool: string; reason: string }[];
  /** Tools the server's overrides name that the server does not list. */
  unknownOverrides: string[];
  close(): Promise<void>;
}

/**
 * Connects to one MCP server and offers each of its tools, read-only, idempotent or neither by its
 * annotations or the operator's overrides (`mcp-annotations.ts`). Calls go through the SDK's `tools/call`
 * with the call's deadline (or the server's `timeoutMs`) as its timeout and the call's AbortSignal,
 * which makes the SDK send `notifications/cancelled` when the call is abandoned.
 */
export async function mountMcpServer(name: string, server: McpServers[string]): Promise<MountedMcpServer> {
  const transport =
    "url" in server
      ? new StreamableHTTPClientTransport(new URL(server.url))
      : new StdioClientTransport({
          command: server.command,
          args: server.args,
          ...(server.env ? { env: server.env } : {}),
          stderr: "ignore",
        });
  const client = new Client({ name: "toolformer-executor", version: "1.0.0" });
  await client.connect(transport);
  const { tools } = await client.listTools();
  const invokers: ToolInvoker[] = [];
  const skipped: MountedMcpServer["skipped"] = [];
  for (const tool of tools) {
    if (!TOOL_NAME_PATTERN.test(tool.name)) {
      skipped.push({ tool: tool.name, reason: `the name does not match ${TOOL_NAME_PATTERN}` });
      continue;
    }
    const approval = server.approval?.[tool.name] ?? server.approval?.["*"];
    const definition: ToolDefinition = {
      name: tool.name,
      description: tool.description ?? "",
      parameters: tool.inputSchema,
      ...mcpToolEffects(tool.annotations, overriddenClass(server, tool.name)),
      source: "mcp",
      ...(server.timeoutMs === undefined ? {} : { timeoutMs: server.timeoutMs }),
      ...(approval === undefined ? {} : { approval }),
    };
    const check = argumentChecker(tool.inputSchema);
    invokers.push({
      definition,
      async invoke(args, ctx) {
        check(args);
        const result = await client
          .callTool({ name: tool.name, arguments: (args ?? {}) as Record<string, unknown> }, undefined, {
            signal: ctx.signal,
            timeout: Math.max(1, ctx.deadline - Date.now()),
          })
          .catch((error: unknown) => {
            if (error instanceof McpError && error.code === McpErrorCode.InvalidParams)
              throw new TerminalError(ErrorCode.INVALID_ARGUMENTS, error.message);
            throw error;
          });
        if (result.isError)
          throw new TerminalError(ErrorCode.TOOL_FAILED, textOf(result.content) || "the MCP tool failed");
        return result.structuredContent ?? contentValue(result.content);
      },
    });
  }
  return {
    name,
    invokers,
    skipped,
    unknownOverrides: unknownOverrides(
      server,
      tools.map((tool) => tool.name),
    ),
    close: () => client.close(),
  };
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
