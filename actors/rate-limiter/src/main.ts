import { BaseConfigSchema, baseConfigFromEnv, parseConfig, runMain } from "@toolformer/runtime";
import { rateLimiterActor } from "./rate-limiter.ts";

runMain(rateLimiterActor(), parseConfig(BaseConfigSchema, baseConfigFromEnv(process.env)));
