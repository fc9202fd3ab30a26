import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { EventType } from "@toolformer/protocol";
import { startEnvironment, waitForCatalog, type TestEnvironment } from "../support/environment.ts";
import { buildTestMcpServer } from "../support/mcp-server.ts";

const SERVER = fileURLToPath(new URL("../support/mcp-server.ts", import.meta.url));
const TOOL_TIMEOUT_MS = 1_500;

/** Waits (bounded) for what the MCP server wrote to its log. */
async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  for (const giveUpAt = Date.now() + timeoutMs; !condition(); await sleep(20))
    expect(Date.now()).toBeLessThan(giveUpAt);
}

/** The `partial` of each `tool.progress` event of a finished request, in order. */
async function progressOf(env: TestEnvironment, requestId: string): Promise<unknown[]> {
  const partials: unknown[] = [];
  for await (const event of env.client.events(requestId))
    if (event.type === EventType.toolProgress) partials.push(event.partial);
  return partials;
}

describe("MCP tools from a server over stdio", () => {
  let env: TestEnvironment;
  let dir: string;
  let log: string;
  const cancelledOnServer = () => (existsSync(log) ? readFileSync(log, "utf8") : "");

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "toolformer-mcp-"));
    log = join(dir, "server.log");
    const one = (name: string, args: unknown) => ({
      turns: [{ toolCalls: [{ name, arguments: args }] }, { text: "done" }],
    });
    env = await startEnvironment({
      mcpServers: {
        local: {
          command: process.execPath,
          args: [SERVER],
          env: { MCP_LOG: log },
          timeoutMs: TOOL_TIMEOUT_MS,
          approval: { mcp_slow: { when: { properties: { tag: { const: "approve-me" } }, required: ["tag"] } } },
          cache: { mcp_lookup: { ttlMs: 60_000 } },
        },
      },
      waitForTools: ["mcp_add", "mcp_fail", "mcp_slow", "mcp_progress", "mcp_task", "mcp_grow", "mcp_lookup"],
      scenarios: {
        add: one("mcp_add", { a: 2, b: 3 }),
        fail: one("mcp_fail", {}),
        invalid: one("mcp_add", { a: "two", b: 3 }),
        slow: one("mcp_slow", { ms: 10_000, tag: "timeout" }),
        cancel: one("mcp_slow", { ms: 10_000, tag: "cancel" }),
        // Twice the tool's timeout in all, a progress report every 400 ms.
        progress: one("mcp_progress", { steps: 8, everyMs: 400, tag: "progress" }),
        task: one("mcp_task", { ms: 2 * TOOL_TIMEOUT_MS, tag: "done" }),
        cancelTask: one("mcp_task", { ms: 20_000, tag: "cancelled" }),
        grow: one("mcp_grow", {}),
        grown: one("mcp_grown", {}),
        approve: one("mcp_slow", { ms: 10, tag: "approve-me" }),
        lookup: one("mcp_lookup", { word: "toolformer" }),
      },
    });
  });
  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  });

  it("offers the server's tools in orchestrate.tools, with their schemas and what their annotations say", async () => {
    const { tools } = await env.client.tools();
    expect(tools.find((t) => t.name === "mcp_add")).toMatchObject({
      source: "mcp",
      description: "Adds two numbers.",
      readOnly: false, // idempotentHint alone: retried, never speculated
      idempotent: true,
      parameters: { properties: { a: { type: "number" }, b: { type: "number" } } },
    });
    // No annotations: nothing is assumed.
    expect(tools.find((t) => t.name === "mcp_fail")).toMatchObject({ readOnly: false, idempotent: false });
  });

  it("holds a call the operator's approval policy names until it is approved", async () => {
    const { tools } = await env.client.tools();
    expect(tools.find((t) => t.name === "mcp_slow")?.approval).toMatchObject({ when: { required: ["tag"] } });
    const id = `mcp-approve-${Date.now()}`;
    const reply = env.client.request({ id, prompt: "x", model: "fake:approve" });
    let callId = "";
    for await (const event of env.client.events(id))
      if (event.type === "tool.awaiting_approval") {
        callId = event.callId;
        break;
      }
    expect(await env.client.approve(id, { callId, decision: "approve" })).toMatchObject({ ok: true });
    expect((await reply).toolCalls[0]).toMatchObject({ status: "succeeded" });
  });

  it("serves an identical call of a read-only tool from the result cache the operator opted it into", async () => {
    const { tools } = await env.client.tools();
    // The cache's version is the server's (serverInfo.version), so a new release starts afresh.
    expect(tools.find((t) => t.name === "mcp_lookup")).toMatchObject({
      readOnly: true,
      cache: { ttlMs: 60_000, version: "1.0.0" },
    });
    const first = await env.client.request({ prompt: "x", model: "fake:lookup" });
    const second = await env.client.request({ prompt: "x", model: "fake:lookup" });
    expect([first, second].map((reply) => [reply.toolCalls[0]?.status, reply.toolCalls[0]?.cached ?? false])).toEqual([
      ["succeeded", false],
      ["succeeded", true],
    ]);
    expect(second.toolCalls[0]?.result).toEqual({ word: "toolformer", meaning: "the meaning of toolformer" });
    expect(cancelledOnServer().match(/^looked up toolformer$/gm)).toHaveLength(1);
  });

  it("calls a tool and returns its result", async () => {
    const reply = await env.client.request({ prompt: "x", model: "fake:add" });
    expect(reply.toolCalls[0]).toMatchObject({ status: "succeeded", result: { sum: 5 } });
  });

  it("fails the call with the server's message when the tool reports an error", async () => {
    const reply = await env.client.request({ prompt: "x", model: "fake:fail" });
    expect(reply.toolCalls[0]).toMatchObject({
      status: "failed",
      error: { code: "TOOL_FAILED", message: "the answer is not available" },
    });
  });

  it("fails a call whose arguments break the tool's schema, with the schema's message", async () => {
    const reply = await env.client.request({ prompt: "x", model: "fake:invalid" });
    expect(reply.toolCalls[0]).toMatchObject({ status: "failed" });
    expect(reply.toolCalls[0]?.error?.code).toBe("INVALID_ARGUMENTS");
    expect(reply.toolCalls[0]?.error?.message).toContain("/a must be number");
  });

  it("times a call out after the server's timeout and tells the server to stop", async () => {
    const reply = await env.client.request({ prompt: "x", model: "fake:slow" });
    expect(reply.toolCalls[0]).toMatchObject({ status: "timeout", error: { code: "TIMEOUT" } });
    expect(reply.toolCalls[0]!.durationMs).toBeLessThan(TOOL_TIMEOUT_MS + 1_000);
    await until(() => cancelledOnServer().includes("cancelled timeout"));
  });

  it("sends notifications/cancelled when the request is cancelled", async () => {
    const id = `mcp-cancel-${Date.now()}`;
    const reply = env.client.request({ id, prompt: "x", model: "fake:cancel" });
    // Cancel once the server holds the call (before that, there is nothing on the server to stop).
    await until(() => cancelledOnServer().includes("started cancel"));
    await env.client.cancel(id);
    expect((await reply).toolCalls[0]).toMatchObject({ status: "cancelled" });
    await until(() => cancelledOnServer().includes("cancelled cancel"));
  });

  it("keeps a call that reports progress alive past its timeout, and streams the progress as events", async () => {
    const id = `mcp-progress-${Date.now()}`;
    const reply = await env.client.request({ id, prompt: "x", model: "fake:progress" });
    expect(reply.toolCalls[0]).toMatchObject({ status: "succeeded", result: { steps: 8 } });
    expect(reply.toolCalls[0]!.durationMs).toBeGreaterThan(TOOL_TIMEOUT_MS);
    const partials = await progressOf(env, id);
    expect(partials[0]).toEqual({ progress: 1, total: 8, message: "step 1" });
    expect(partials.length).toBeGreaterThanOrEqual(7); // the last one may come after the result
  });

  it("runs a call of a task tool as a task, its status messages as progress", async () => {
    const id = `mcp-task-${Date.now()}`;
    const reply = await env.client.request({ id, prompt: "x", model: "fake:task" });
    expect(reply.toolCalls[0]).toMatchObject({ status: "succeeded", result: { done: "done" } });
    expect(cancelledOnServer()).toContain("task done");
    expect(await progressOf(env, id)).toContainEqual({ task: "working", message: `250 of ${2 * TOOL_TIMEOUT_MS} ms` });
  });

  it("cancels a task on the server (tasks/cancel) when the request is cancelled", async () => {
    const id = `mcp-task-cancel-${Date.now()}`;
    const reply = env.client.request({ id, prompt: "x", model: "fake:cancelTask" });
    await until(() => cancelledOnServer().includes("task cancelled"));
    await env.client.cancel(id);
    expect((await reply).toolCalls[0]).toMatchObject({ status: "cancelled" });
    await until(() => cancelledOnServer().includes("cancelled task cancelled"));
  });

  it("offers a tool the server adds while it runs (notifications/tools/list_changed)", async () => {
    expect((await env.client.tools()).tools.map((t) => t.name)).not.toContain("mcp_grown");
    const grow = await env.client.request({ prompt: "x", model: "fake:grow" });
    expect(grow.toolCalls[0]).toMatchObject({ status: "succeeded", result: { added: "mcp_grown" } });
    await waitForCatalog(env.client, ["mcp_grown"]);
    const grown = await env.client.request({ prompt: "x", model: "fake:grown" });
    expect(grown.toolCalls[0]).toMatchObject({ status: "succeeded", result: { grown: true } });
  });
});

describe("an MCP server over stdio that crashes", () => {
  let env: TestEnvironment;
  let dir: string;
  let log: string;
  let down: string;
  const processes = () => (existsSync(log) ? (readFileSync(log, "utf8").match(/^process /gm)?.length ?? 0) : 0);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "toolformer-mcp-crash-"));
    log = join(dir, "server.log");
    down = join(dir, "down");
    const one = (name: string, args: unknown) => ({
      turns: [{ toolCalls: [{ name, arguments: args }] }, { text: "done" }],
    });
    env = await startEnvironment({
      mcpServers: {
        local: { command: process.execPath, args: [SERVER], env: { MCP_LOG: log, MCP_DOWN_FILE: down } },
      },
      waitForTools: ["mcp_add", "mcp_crash"],
      scenarios: {
        add: one("mcp_add", { a: 1, b: 1 }),
        crash: one("mcp_crash", {}),
        slow: one("mcp_slow", { ms: 1, tag: "while-down" }),
      },
    });
  });
  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  });

  it("fails calls clearly while it is down, and is started again with backoff", { timeout: 60_000 }, async () => {
    expect((await env.client.request({ prompt: "x", model: "fake:add" })).toolCalls[0]).toMatchObject({
      status: "succeeded",
    });
    writeFileSync(down, ""); // it cannot start again until this goes
    const crashed = await env.client.request({ prompt: "x", model: "fake:crash" });
    expect(crashed.toolCalls[0]).toMatchObject({ status: "failed", error: { code: "TOOL_FAILED" } });

    const whileDown = await env.client.request({ prompt: "x", model: "fake:slow" });
    expect(whileDown.toolCalls[0]).toMatchObject({ status: "failed", error: { code: "TOOL_FAILED" } });
    expect(whileDown.toolCalls[0]!.error!.message).toMatch(/the MCP server local is not connected; connecting again/);

    rmSync(down);
    await until(() => processes() === 2, 45_000);
    // Its calls work again once it is back (mcp_add is idempotent: a call in the moment before the
    // connection is made again is tried again).
    const back = await env.client.request({ prompt: "x", model: "fake:add" });
    expect(back.toolCalls[0]).toMatchObject({ status: "succeeded", result: { sum: 2 } });
    expect(processes()).toBe(2);
  });
});

describe("MCP tools from a server over Streamable HTTP", () => {
  const TOKEN = "planted-mcp-token-8e21";
  let authorized = 0;
  let refused = 0;
  let env: TestEnvironment;
  let http: Server;
  let dir: string;
  let log: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "toolformer-mcp-http-"));
    log = join(dir, "server.log");
    // A stateful server, as deployed ones are: one session per client, found by its Mcp-Session-Id.
    // It wants the token of the secret file in every request.
    writeFileSync(join(dir, "token"), `${TOKEN}\n`);
    const sessions = new Map<string, StreamableHTTPServerTransport>();
    http = createServer((req, res) => {
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        refused++;
        return void res.writeHead(401).end();
      }
      authorized++;
      void (async () => {
        const id = req.headers["mcp-session-id"];
        let transport = typeof id === "string" ? sessions.get(id) : undefined;
        if (!transport) {
          const created = new StreamableHTTPServerTransport({
            sessionIdGenerator: () => randomUUID(),
            onsessioninitialized: (sessionId) => void sessions.set(sessionId, created),
          });
          await buildTestMcpServer(log).connect(created);
          transport = created;
        }
        await transport.handleRequest(req, res);
      })();
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const { port } = http.address() as AddressInfo;
    env = await startEnvironment({
      // The operator trusts none of this server's annotations.
      mcpServers: {
        web: {
          url: `http://127.0.0.1:${port}/mcp`,
          headers: { Authorization: { file: join(dir, "token"), prefix: "Bearer " } },
          sideEffects: ["*"],
        },
      },
      waitForTools: ["mcp_add", "mcp_slow"],
      scenarios: {
        add: { turns: [{ toolCalls: [{ name: "mcp_add", arguments: { a: 20, b: 22 } }] }, { text: "done" }] },
        cancel: {
          turns: [{ toolCalls: [{ name: "mcp_slow", arguments: { ms: 10_000, tag: "http" } }] }, { text: "done" }],
        },
      },
    });
  });
  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    http?.closeAllConnections();
    await new Promise((resolve) => http?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it("calls a tool and returns its result", async () => {
    const reply = await env.client.request({ prompt: "x", model: "fake:add" });
    expect(reply.toolCalls[0]).toMatchObject({ status: "succeeded", result: { sum: 42 } });
  });

  it("sends the header read from the secret file with every request to the server", () => {
    expect(authorized).toBeGreaterThan(0);
    expect(refused).toBe(0);
  });

  it("takes the operator's overrides over the server's annotations", async () => {
    const { tools } = await env.client.tools();
    expect(tools.find((t) => t.name === "mcp_add")).toMatchObject({ readOnly: false, idempotent: false });
  });

  it("stops the server's work when the request is cancelled", async () => {
    const id = `mcp-http-cancel-${Date.now()}`;
    const reply = env.client.request({ id, prompt: "x", model: "fake:cancel" });
    const heard = () => (existsSync(log) ? readFileSync(log, "utf8") : "");
    await until(() => heard().includes("started http"));
    await env.client.cancel(id);
    expect((await reply).toolCalls[0]).toMatchObject({ status: "cancelled" });
    await until(() => heard().includes("cancelled http"));
  });
});
