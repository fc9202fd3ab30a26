export { speculationActor } from "./speculation.ts";
