import { describe, expect, it } from "vitest";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { ToolDefinitionSchema } from "@toolformer/protocol";
import { McpServersSchema, type McpServers } from "./mcp-servers.ts";
import { mcpToolDefinition } from "./mcp-tool-definition.ts";

const tool = (name: string, annotations?: Tool["annotations"]): Tool => ({
  name,
  inputSchema: { type: "object" },
  ...(annotations ? { annotations } : {}),
});
const server = (config: Record<string, unknown>): McpServers[string] =>
  McpServersSchema.parse({ docs: { command: "npx", args: ["server"], ...config } }).docs!;

describe("an MCP tool's result cache, from TF_MCP_SERVERS", () => {
  it("caches a read-only tool the operator names, keyed by the server's version and the operator's", () => {
    const config = server({ cache: { search: { ttlMs: 60_000 }, fetch_page: { ttlMs: 5_000, version: "2" } } });
    const search = mcpToolDefinition(config, tool("search", { readOnlyHint: true }), "1.4.0");
    expect(search).toMatchObject({
      ok: true,
      definition: { readOnly: true, cache: { ttlMs: 60_000, version: "1.4.0" } },
    });
    // The catalog takes it: a cache on a read-only tool.
    expect(search.ok && ToolDefinitionSchema.safeParse(search.definition).success).toBe(true);
    const page = mcpToolDefinition(config, tool("fetch_page", { readOnlyHint: true }), "1.4.0");
    expect(page).toMatchObject({ ok: true, definition: { cache: { ttlMs: 5_000, version: "1.4.0/2" } } });
    // A tool the cache does not name keeps none.
    const other = mcpToolDefinition(config, tool("other", { readOnlyHint: true }), "1.4.0");
    expect(other.ok && other.definition.cache).toBeUndefined();
  });

  it("takes the operator's readOnly list over missing hints", () => {
    const config = server({ readOnly: ["search"], cache: { search: { ttlMs: 1_000 } } });
    expect(mcpToolDefinition(config, tool("search"), "")).toMatchObject({
      ok: true,
      definition: { readOnly: true, cache: { ttlMs: 1_000, version: "" } },
    });
  });

  it("refuses to offer a cached tool that is not read-only by its hints", () => {
    const config = server({ cache: { write_file: { ttlMs: 1_000 }, add: { ttlMs: 1_000 } } });
    const writes = mcpToolDefinition(config, tool("write_file", { idempotentHint: true, destructiveHint: true }), "1");
    expect(writes).toEqual({ ok: false, reason: expect.stringContaining("only a read-only tool may cache") });
    expect(mcpToolDefinition(config, tool("add"), "1").ok).toBe(false);
  });

  it("refuses, when read, a cache for a tool the operator classed otherwise, a `*` and a bad TTL", () => {
    const parse = (config: Record<string, unknown>) =>
      McpServersSchema.safeParse({ docs: { command: "npx", ...config } });
    expect(parse({ idempotent: ["put"], cache: { put: { ttlMs: 1_000 } } }).error?.issues[0]).toMatchObject({
      path: ["docs", "cache", "put"],
      message: "only a read-only tool may cache its results: put is idempotent here",
    });
    expect(parse({ sideEffects: ["*"], cache: { search: { ttlMs: 1_000 } } }).success).toBe(false);
    expect(parse({ readOnly: ["search"], sideEffects: ["*"], cache: { search: { ttlMs: 1_000 } } }).success).toBe(true);
    expect(parse({ cache: { "*": { ttlMs: 1_000 } } }).success).toBe(false);
    expect(parse({ cache: { search: { ttlMs: 0 } } }).success).toBe(false);
  });
});
