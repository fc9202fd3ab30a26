export { speculationActor } from "./speculation.ts";
export { SpeculationOptionsSchema, type SpeculationOptions } from "./config.ts";
export { historyKey } from "./predictors/history-model.ts";
