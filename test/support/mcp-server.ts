/**
 * A small MCP server for the executor's tests, written the way any MCP server is: the official SDK,
 * zod schemas. What it does that a test checks from outside (each start of mcp_slow, mcp_progress and
 * mcp_task, each run of mcp_lookup, each cancellation it hears, each start of the process) is appended to the file named by
 * MCP_LOG. Run as a script, it serves stdio; `buildTestMcpServer` serves any transport.
 */
import { appendFileSync, existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { InMemoryTaskStore } from "@modelcontextprotocol/sdk/experimental/tasks/stores/in-memory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { fileURLToPath } from "node:url";
import { z } from "zod";

const text = (value: unknown) => ({ content: [{ type: "text" as const, text: JSON.stringify(value) }] });

/** How often a task's worker looks whether the task was cancelled. */
const TASK_CHECK_MS = 50;
/** How often it says how far it got (its status message), which tells the client it is alive. */
const TASK_STATUS_EVERY_MS = 250;

export function buildTestMcpServer(log = process.env.MCP_LOG ?? "/dev/null"): McpServer {
  const note = (line: string) => appendFileSync(log, `${line}\n`);
  const server = new McpServer(
    { name: "test-tools", version: "1.0.0" },
    { capabilities: { tasks: { requests: { tools: { call: {} } } } }, taskStore: new InMemoryTaskStore() },
  );
  server.registerTool(
    "mcp_add",
    {
      description: "Adds two numbers.",
      inputSchema: { a: z.number(), b: z.number() },
      annotations: { idempotentHint: true },
    },
    async ({ a, b }) => text({ sum: a + b }),
  );
  server.registerTool(
    "mcp_lookup",
    {
      description: "Looks a word up: reads only.",
      inputSchema: { word: z.string() },
      annotations: { readOnlyHint: true },
    },
    async ({ word }) => {
      note(`looked up ${word}`);
      return text({ word, meaning: `the meaning of ${word}` });
    },
  );
  server.registerTool("mcp_fail", { description: "Always fails.", inputSchema: {} }, async () => ({
    isError: true,
    content: [{ type: "text" as const, text: "the answer is not available" }],
  }));
  server.registerTool(
    "mcp_slow",
    { description: "Waits, unless cancelled.", inputSchema: { ms: z.number(), tag: z.string() } },
    async ({ ms, tag }, extra) => {
      note(`started ${tag}`);
      extra.signal.addEventListener("abort", () => note(`cancelled ${tag}`));
      await sleep(ms, undefined, { signal: extra.signal }).catch(() => undefined);
      return text({ waited: ms });
    },
  );
  server.registerTool(
    "mcp_progress",
    {
      description: "Works in steps, reporting progress after each.",
      inputSchema: { steps: z.number(), everyMs: z.number(), tag: z.string() },
    },
    async ({ steps, everyMs, tag }, extra) => {
      note(`started ${tag}`);
      const progressToken = extra._meta?.progressToken;
      for (let step = 1; step <= steps && !extra.signal.aborted; step++) {
        await sleep(everyMs, undefined, { signal: extra.signal }).catch(() => undefined);
        if (progressToken !== undefined && !extra.signal.aborted)
          await extra.sendNotification({
            method: "notifications/progress",
            params: { progressToken, progress: step, total: steps, message: `step ${step}` },
          });
      }
      if (extra.signal.aborted) note(`cancelled ${tag}`);
      return text({ steps });
    },
  );
  server.experimental.tasks.registerToolTask(
    "mcp_task",
    {
      description: "A long job, run as a task only.",
      inputSchema: { ms: z.number(), tag: z.string() },
      execution: { taskSupport: "required" },
    },
    {
      async createTask({ ms, tag }, { taskStore }) {
        const task = await taskStore.createTask({ ttl: 60_000, pollInterval: 100 });
        note(`task ${tag}`);
        void (async () => {
          for (let waited = 0; waited < ms; waited += TASK_CHECK_MS) {
            await sleep(TASK_CHECK_MS);
            if ((await taskStore.getTask(task.taskId))?.status === "cancelled") return note(`cancelled task ${tag}`);
            if (waited % TASK_STATUS_EVERY_MS === 0)
              await taskStore.updateTaskStatus(task.taskId, "working", `${waited} of ${ms} ms`);
          }
          await taskStore.storeTaskResult(task.taskId, "completed", text({ done: tag }));
        })();
        return { task };
      },
      getTask: (_args, { taskId, taskStore }) => taskStore.getTask(taskId),
      // The store keeps any result; this tool stored a CallToolResult.
      getTaskResult: async (_args, { taskId, taskStore }) => (await taskStore.getTaskResult(taskId)) as CallToolResult,
    },
  );
  // Offers one more tool while it runs, which makes the SDK send notifications/tools/list_changed.
  server.registerTool("mcp_grow", { description: "Adds the tool mcp_grown.", inputSchema: {} }, async () => {
    server.registerTool("mcp_grown", { description: "Added while the server ran.", inputSchema: {} }, async () =>
      text({ grown: true }),
    );
    return text({ added: "mcp_grown" });
  });
  server.registerTool(
    "mcp_trace_context",
    { description: "Answers with the trace context its call carried in params._meta.", inputSchema: {} },
    async (_args, extra) => text({ traceparent: extra._meta?.traceparent ?? null }),
  );
  return server;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // A server that cannot start while this file exists: what a crash loop looks like from the client.
  if (process.env.MCP_DOWN_FILE && existsSync(process.env.MCP_DOWN_FILE)) process.exit(1);
  const log = process.env.MCP_LOG ?? "/dev/null";
  appendFileSync(log, `process ${process.pid}\n`);
  const server = buildTestMcpServer(log);
  // Crashes the process (stdio only): what a server with a fatal bug does.
  server.registerTool("mcp_crash", { description: "Exits the server's process.", inputSchema: {} }, async () =>
    process.exit(1),
  );
  await server.connect(new StdioServerTransport());
}
