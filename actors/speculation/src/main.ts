import { runMain } from "@toolformer/runtime";
import { speculationConfigFromEnv } from "./config.ts";
import { speculationActor } from "./speculation.ts";

const config = speculationConfigFromEnv(process.env);
runMain(speculationActor(config), config);
