export { defineTool, toolDefinitionOf, type TypeScriptTool, type ToolContext, type ToolLogger } from "./define-tool.ts";
export { EXAMPLE_TOOLS, getWeather, calculator, sleepTool, echo, fail } from "./examples/index.ts";
