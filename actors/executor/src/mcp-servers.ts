import { z } from "zod";
import { ApprovalPolicySchema } from "@toolformer/protocol";
import { checkOverrides, McpToolOverridesSchema } from "./mcp-annotations.ts";
import { McpHeaderValueSchema } from "./mcp-headers.ts";

/** Which of the server's tools wait for approval, by tool name (`*`: every tool no other key names). */
const McpApprovalsSchema = z.record(z.string(), ApprovalPolicySchema);

/**
 * One MCP server to mount: a command speaking stdio, or a Streamable HTTP endpoint (with headers, which
 * may come from secrets); either may set the class of its tools (`readOnly`, `idempotent`,
 * `sideEffects`: lists of tool names, or `*`).
 */
const McpServerSchema = z
  .union([
    z.strictObject({
      command: z.string().min(1),
      args: z.array(z.string()).default([]),
      env: z.record(z.string(), z.string()).optional(),
      timeoutMs: z.int().min(1).optional(),
      approval: McpApprovalsSchema.optional(),
      ...McpToolOverridesSchema.shape,
    }),
    z.strictObject({
      url: z.url(),
      /** Sent with every HTTP request to the server, e.g. `Authorization` from a secret (`mcp-headers.ts`). */
      headers: z.record(z.string().min(1), McpHeaderValueSchema).optional(),
      timeoutMs: z.int().min(1).optional(),
      approval: McpApprovalsSchema.optional(),
      ...McpToolOverridesSchema.shape,
    }),
  ])
  .superRefine(checkOverrides);

/**
 * `TF_MCP_SERVERS`: server name -> how to reach it. Apart from the client (`mcp-tools.ts`), so that
 * reading the configuration does not load the MCP SDK.
 */
export const McpServersSchema = z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), McpServerSchema);
export type McpServers = z.infer<typeof McpServersSchema>;
