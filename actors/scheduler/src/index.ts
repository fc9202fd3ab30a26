export { schedulerActor, type SchedulerOptions } from "./scheduler.ts";
