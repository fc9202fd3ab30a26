export { speculationActor } from "./speculation.ts";
export { SpeculationOptionsSchema, type SpeculationOptions } from "./config.ts";
