import { BaseConfigSchema, baseConfigFromEnv, parseConfig, runMain } from "@toolformer/runtime";
import { speculationActor } from "./speculation.ts";

runMain(speculationActor(), parseConfig(BaseConfigSchema, baseConfigFromEnv(process.env)));
