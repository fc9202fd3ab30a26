import { z } from "zod";
import { ApprovalPolicySchema, ResultCachePolicySchema, ToolNameSchema } from "@toolformer/protocol";
import {
  checkOverrides,
  McpToolClass,
  McpToolOverridesSchema,
  overriddenClass,
  type McpToolOverrides,
} from "./mcp-annotations.ts";
import { McpHeaderValueSchema } from "./mcp-headers.ts";

/** Which of the server's tools wait for approval, by tool name (`*`: every tool no other key names). */
const McpApprovalsSchema = z.record(z.string(), ApprovalPolicySchema);

/**
 * Which of the server's read-only tools keep their results (docs/tools.md#result-cache), by tool name:
 * `{ttlMs, version}`. Named one by one (no `*`): a cache is the operator's decision for a tool whose
 * answers it knows may be reused.
 */
const McpCachesSchema = z.record(
  ToolNameSchema,
  // No default version: the server's own is the cache's, and this one is added to it when given.
  ResultCachePolicySchema.extend({ version: z.string().max(64).optional() }),
);
type McpCaches = z.infer<typeof McpCachesSchema>;

/**
 * Refuses, when the configuration is read, a cache for a tool the operator gave another class than
 * read-only (by name or by `*`): only a read-only tool may cache its results.
 */
function checkCaches(server: McpToolOverrides & { cache?: McpCaches | undefined }, ctx: z.RefinementCtx): void {
  for (const name of Object.keys(server.cache ?? {})) {
    const toolClass = overriddenClass(server, name);
    if (toolClass !== undefined && toolClass !== McpToolClass.readOnly)
      ctx.addIssue({
        code: "custom",
        path: ["cache", name],
        message: `only a read-only tool may cache its results: ${name} is ${toolClass} here`,
      });
  }
}

/**
 * One MCP server to mount: a command speaking stdio, or a Streamable HTTP endpoint (with headers, which
 * may come from secrets); either may set the class of its tools (`readOnly`, `idempotent`,
 * `sideEffects`: lists of tool names, or `*`), which calls wait for approval and which read-only tools
 * cache their results.
 */
const McpServerSchema = z
  .union([
    z.strictObject({
      command: z.string().min(1),
      args: z.array(z.string()).default([]),
      env: z.record(z.string(), z.string()).optional(),
      timeoutMs: z.int().min(1).optional(),
      approval: McpApprovalsSchema.optional(),
      cache: McpCachesSchema.optional(),
      ...McpToolOverridesSchema.shape,
    }),
    z.strictObject({
      url: z.url(),
      /** Sent with every HTTP request to the server, e.g. `Authorization` from a secret (`mcp-headers.ts`). */
      headers: z.record(z.string().min(1), McpHeaderValueSchema).optional(),
      timeoutMs: z.int().min(1).optional(),
      approval: McpApprovalsSchema.optional(),
      cache: McpCachesSchema.optional(),
      ...McpToolOverridesSchema.shape,
    }),
  ])
  .superRefine((server, ctx) => {
    checkOverrides(server, ctx);
    checkCaches(server, ctx);
  });

/**
 * `TF_MCP_SERVERS`: server name -> how to reach it. Apart from the client (`mcp-tools.ts`), so that
 * reading the configuration does not load the MCP SDK.
 */
export const McpServersSchema = z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), McpServerSchema);
export type McpServers = z.infer<typeof McpServersSchema>;
