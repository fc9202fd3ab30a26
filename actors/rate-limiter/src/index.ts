export { rateLimiterActor } from "./rate-limiter.ts";
export { ownerOf } from "./line-owners.ts";
