import type { ToolAnnotations } from "@modelcontextprotocol/sdk/types.js";
import { ToolNameSchema, type ToolDefinition } from "@toolformer/protocol";
import { z } from "zod";

/** What the orchestrator may do with a tool's calls, as an operator names it for an MCP tool. */
export const McpToolClass = { readOnly: "readOnly", idempotent: "idempotent", sideEffects: "sideEffects" } as const;
export type McpToolClass = (typeof McpToolClass)[keyof typeof McpToolClass];
const CLASSES = Object.values(McpToolClass);

/** Stands for every tool of the server that no list names. */
export const EVERY_TOOL = "*";

const ToolNamesSchema = z.array(z.union([z.literal(EVERY_TOOL), ToolNameSchema]));

/**
 * The operator's word on a server's tools, which beats the server's annotations (they are hints, and
 * the MCP specification warns against deciding by the hints of a server one does not trust): each
 * list names tools of that class, or `*` for all the others.
 */
export const McpToolOverridesSchema = z.strictObject({
  readOnly: ToolNamesSchema.optional(),
  idempotent: ToolNamesSchema.optional(),
  sideEffects: ToolNamesSchema.optional(),
});
export type McpToolOverrides = z.infer<typeof McpToolOverridesSchema>;

/** Each name, `*` included, in one list at most: a tool has one class. */
export function checkOverrides(overrides: McpToolOverrides, ctx: z.RefinementCtx): void {
  const seen = new Map<string, McpToolClass>();
  for (const toolClass of CLASSES) {
    for (const name of overrides[toolClass] ?? []) {
      const earlier = seen.get(name);
      if (earlier !== undefined && earlier !== toolClass)
        ctx.addIssue({ code: "custom", path: [toolClass], message: `${name} is already listed in ${earlier}` });
      seen.set(name, toolClass);
    }
  }
}

/** The class the operator gave the tool: by its name, else by `*`; undefined when the operator said nothing. */
export function overriddenClass(overrides: McpToolOverrides, tool: string): McpToolClass | undefined {
  return (
    CLASSES.find((toolClass) => overrides[toolClass]?.includes(tool)) ??
    CLASSES.find((toolClass) => overrides[toolClass]?.includes(EVERY_TOOL))
  );
}

/** Names the overrides list that are not among the server's tools (a typo, or a tool the server dropped). */
export function unknownOverrides(overrides: McpToolOverrides, tools: readonly string[]): string[] {
  return CLASSES.flatMap((toolClass) => overrides[toolClass] ?? []).filter(
    (name) => name !== EVERY_TOOL && !tools.includes(name),
  );
}

/**
 * The tool's properties from its MCP annotations, unless the operator set its class: `readOnlyHint`
 * makes it read-only (and so idempotent); `idempotentHint` without it, idempotent only; no hint,
 * neither. `destructiveHint` is kept where declared, except on a read-only tool, where the
 * specification gives it no meaning.
 */
export function mcpToolEffects(
  annotations: ToolAnnotations | undefined,
  override: McpToolClass | undefined,
): Pick<ToolDefinition, "readOnly" | "idempotent" | "destructive"> {
  const toolClass = override ?? annotatedClass(annotations);
  if (toolClass === McpToolClass.readOnly) return { readOnly: true, idempotent: true };
  const destructive = annotations?.destructiveHint;
  return {
    readOnly: false,
    idempotent: toolClass === McpToolClass.idempotent,
    ...(destructive === undefined ? {} : { destructive }),
  };
}

function annotatedClass(annotations: ToolAnnotations | undefined): McpToolClass {
  if (annotations?.readOnlyHint === true) return McpToolClass.readOnly;
  if (annotations?.idempotentHint === true) return McpToolClass.idempotent;
  return McpToolClass.sideEffects;
}
