export { schedulerActor, type SchedulerOptions } from "./scheduler.ts";
export { RoundState } from "./round-state.ts";
