export { executorActor, type ExecutorOptions } from "./executor.ts";
export { ResultCache, type ResultCacheCounts } from "./result-cache.ts";
export type { McpServers } from "./mcp-servers.ts";
