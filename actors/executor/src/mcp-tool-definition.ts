import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import type { ToolDefinition } from "@toolformer/protocol";
import { mcpToolEffects, overriddenClass } from "./mcp-annotations.ts";
import type { McpServers } from "./mcp-servers.ts";

/**
 * An MCP tool as the executor offers it, from what the server lists and the operator's configuration:
 * its class (`mcp-annotations.ts`), the server's timeout, its approval policy and its result cache. The
 * cache's version is the server's own (`serverInfo.version`), then the operator's `version`, so a new
 * release of the server starts afresh. A cache on a tool that turns out not to be read-only (by its
 * annotations) is refused: the tool is not offered, and the reason says why.
 */
export function mcpToolDefinition(
  server: McpServers[string],
  tool: Tool,
  serverVersion: string,
): { ok: true; definition: ToolDefinition } | { ok: false; reason: string } {
  const effects = mcpToolEffects(tool.annotations, overriddenClass(server, tool.name));
  const approval = server.approval?.[tool.name] ?? server.approval?.["*"];
  const cache = server.cache?.[tool.name];
  if (cache && !effects.readOnly)
    return {
      ok: false,
      reason: `only a read-only tool may cache its results; list it in readOnly if it changes nothing`,
    };
  // The catalog's longest cache version is 128 characters (`ResultCachePolicySchema`).
  const version = [serverVersion, cache?.version].filter(Boolean).join("/").slice(0, 128);
  return {
    ok: true,
    definition: {
      name: tool.name,
      description: tool.description ?? "",
      parameters: tool.inputSchema,
      ...effects,
      source: "mcp",
      ...(server.timeoutMs === undefined ? {} : { timeoutMs: server.timeoutMs }),
      ...(approval === undefined ? {} : { approval }),
      ...(cache === undefined ? {} : { cache: { ttlMs: cache.ttlMs, version } }),
    },
  };
}
