import { BaseConfigSchema, baseConfigFromEnv, parseConfig, runMain } from "@toolformer/runtime";
import { z } from "zod";
import { schedulerActor } from "./scheduler.ts";

const DEFAULT_MAX_CONCURRENT_ROUNDS = 1_000;

const config = parseConfig(
  BaseConfigSchema.extend({
    maxConcurrentRounds: z.coerce.number().int().min(1).default(DEFAULT_MAX_CONCURRENT_ROUNDS),
  }),
  { ...baseConfigFromEnv(process.env), maxConcurrentRounds: process.env.TF_SCHEDULER_MAX_ROUNDS },
);
runMain(schedulerActor(config), config);
