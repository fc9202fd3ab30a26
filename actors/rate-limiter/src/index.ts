export { rateLimiterActor } from "./rate-limiter.ts";
export { admit, release, type WindowState, type Admission } from "./sliding-window.ts";
