import type { ToolAnnotations } from "@modelcontextprotocol/sdk/types.js";
import type { ToolDefinition } from "@toolformer/protocol";

/**
 * The tool's properties from its MCP annotations: `readOnlyHint` makes it read-only (and so
 * idempotent); `idempotentHint` without it, idempotent only; no hint, neither. `destructiveHint` is
 * kept where declared, except on a read-only tool, where the specification gives it no meaning.
 */
export function mcpToolEffects(
  annotations: ToolAnnotations | undefined,
): Pick<ToolDefinition, "readOnly" | "idempotent" | "destructive"> {
  if (annotations?.readOnlyHint === true) return { readOnly: true, idempotent: true };
  const destructive = annotations?.destructiveHint;
  return {
    readOnly: false,
    idempotent: annotations?.idempotentHint === true,
    ...(destructive === undefined ? {} : { destructive }),
  };
}
