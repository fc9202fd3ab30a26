import { EXAMPLE_TOOLS, type TypeScriptTool } from "@toolformer/tools";

/** The example tools named by a `*` / comma-separated selection; an unknown name is an error, not a silent skip. */
export function selectExampleTools(selection: string): TypeScriptTool[] {
  const trimmed = selection.trim();
  if (trimmed === "*") return [...EXAMPLE_TOOLS];
  if (trimmed === "") return [];
  return trimmed.split(",").map((name) => {
    const tool = EXAMPLE_TOOLS.find((t) => t.name === name.trim());
    if (!tool) throw new Error(`unknown tool ${name}; known: ${EXAMPLE_TOOLS.map((t) => t.name).join(", ")}`);
    return tool;
  });
}
