export { rateLimiterActor } from "./rate-limiter.ts";
