import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { TypeScriptTool } from "@toolformer/tools";

/** What `defineTool` returns, recognised among a module's exports. */
function isTool(value: unknown): value is TypeScriptTool {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Partial<TypeScriptTool>;
  return (
    typeof candidate.name === "string" &&
    typeof candidate.run === "function" &&
    typeof (candidate.parameters as { safeParse?: unknown } | undefined)?.safeParse === "function"
  );
}

/**
 * The users' own TypeScript tools: every tool a module exports (alone, or in an exported array), for
 * each module in a comma-separated list of paths. A module that exports no tool is an error.
 */
export async function loadToolModules(paths: string): Promise<TypeScriptTool[]> {
  const tools: TypeScriptTool[] = [];
  for (const path of paths
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const exported: Record<string, unknown> = await import(pathToFileURL(resolve(path)).href);
    const found = Object.values(exported)
      .flatMap((value) => (Array.isArray(value) ? value : [value]))
      .filter(isTool);
    if (found.length === 0) throw new Error(`${path} exports no tool (use defineTool from @toolformer/tools)`);
    tools.push(...found);
  }
  return tools;
}
