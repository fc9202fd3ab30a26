export { executorActor, type ExecutorOptions } from "./executor.ts";
export type { McpServers } from "./mcp-servers.ts";
