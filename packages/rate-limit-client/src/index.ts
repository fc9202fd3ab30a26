export { acquirePermits, promoteCall, sendRateLimitFeedback } from "./rate-limit-client.ts";
export { ConfiguredScopes } from "./configured-scopes.ts";
export { BLOCK_ONLY_LIMIT, UpstreamBlocks } from "./upstream-blocks.ts";
