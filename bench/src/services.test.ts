import { cpus } from "node:os";
import { describe, expect, it } from "vitest";
import { cpuMs, machineBusyMs } from "./services.ts";

/** Keeps this thread busy for `ms`. */
function spin(ms: number): number {
  const until = performance.now() + ms;
  let turns = 0;
  while (performance.now() < until) turns++;
  return turns;
}

describe("CPU readings from /proc", () => {
  it("count a busy thread in its process and in the machine, and no more than the cores could give", () => {
    const [processBefore, machineBefore, begin] = [cpuMs(process.pid), machineBusyMs(), performance.now()];
    spin(400);
    const elapsedMs = performance.now() - begin;
    const [processUsed, machineUsed] = [cpuMs(process.pid) - processBefore, machineBusyMs() - machineBefore];
    // /proc counts in 10 ms ticks, and the thread may be off the CPU now and then on a loaded machine.
    expect(processUsed).toBeGreaterThanOrEqual(200);
    expect(machineUsed).toBeGreaterThanOrEqual(processUsed - 20);
    expect(machineUsed).toBeLessThanOrEqual(elapsedMs * cpus().length + 20);
  });
});
