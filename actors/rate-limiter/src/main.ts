import { runMain } from "@toolformer/runtime";
import { rateLimiterConfigFromEnv } from "./config.ts";
import { rateLimiterActor } from "./rate-limiter.ts";

const config = rateLimiterConfigFromEnv(process.env);
runMain(rateLimiterActor(config), config);
