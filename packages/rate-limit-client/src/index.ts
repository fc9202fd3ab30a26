export { acquirePermits, promoteCall, sendRateLimitFeedback, type Granted } from "./rate-limit-client.ts";
export { ConfiguredScopes } from "./configured-scopes.ts";
export { BLOCK_ONLY_LIMIT, UpstreamBlocks } from "./upstream-blocks.ts";
