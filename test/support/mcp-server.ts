/**
 * A small MCP server for the executor's tests, written the way any MCP server is: the official SDK,
 * zod schemas. Each start of mcp_slow and each cancellation it hears is appended to the file named by MCP_LOG. Run as a script,
 * it serves stdio; `buildTestMcpServer` serves any transport.
 */
import { appendFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { fileURLToPath } from "node:url";
import { z } from "zod";

const text = (value: unknown) => ({ content: [{ type: "text" as const, text: JSON.stringify(value) }] });

export function buildTestMcpServer(log = process.env.MCP_LOG ?? "/dev/null"): McpServer {
  const server = new McpServer({ name: "test-tools", version: "1.0.0" });
  server.registerTool(
    "mcp_add",
    {
      description: "Adds two numbers.",
      inputSchema: { a: z.number(), b: z.number() },
      annotations: { idempotentHint: true },
    },
    async ({ a, b }) => text({ sum: a + b }),
  );
  server.registerTool("mcp_fail", { description: "Always fails.", inputSchema: {} }, async () => ({
    isError: true,
    content: [{ type: "text" as const, text: "the answer is not available" }],
  }));
  server.registerTool(
    "mcp_slow",
    { description: "Waits, unless cancelled.", inputSchema: { ms: z.number(), tag: z.string() } },
    async ({ ms, tag }, extra) => {
      appendFileSync(log, `started ${tag}\n`);
      extra.signal.addEventListener("abort", () => appendFileSync(log, `cancelled ${tag}\n`));
      await sleep(ms, undefined, { signal: extra.signal }).catch(() => undefined);
      return text({ waited: ms });
    },
  );
  server.registerTool(
    "mcp_trace_context",
    { description: "Answers with the trace context its call carried in params._meta.", inputSchema: {} },
    async (_args, extra) => text({ traceparent: extra._meta?.traceparent ?? null }),
  );
  return server;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildTestMcpServer().connect(new StdioServerTransport());
