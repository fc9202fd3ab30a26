import { runMain } from "@toolformer/runtime";
import { dispatcherConfigFromEnv } from "./config.ts";
import { dispatcherActor } from "./dispatcher.ts";

const config = dispatcherConfigFromEnv(process.env);
runMain(dispatcherActor(config), config);
