export { acquirePermits, promoteCall, sendRateLimitFeedback } from "./rate-limit-client.ts";
export { ConfiguredScopes } from "./configured-scopes.ts";
export { UpstreamBlocks } from "./upstream-blocks.ts";
