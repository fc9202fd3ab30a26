export { executorActor, type ExecutorOptions } from "./executor.ts";
export { ResultCache, type ResultCacheCounts } from "./result-cache.ts";
export { CallClaims, type ClaimOutcome } from "./call-claims.ts";
export type { McpServers } from "./mcp-servers.ts";
