export { executorActor, type ExecutorOptions } from "./executor.ts";
