import { describe, expect, it } from "vitest";
import { decideIdleTrim, initialIdleTrim, trimmed, type IdleSample, type IdleTrimState } from "./idle-trim.ts";

const MiB = 2 ** 20;
const settings = { quietCpuShare: 0.05, quietForMs: 2_000, minGrowthBytes: 16 * MiB };

/** Feeds samples 500 ms apart, each with `cpuMsPerSample` of CPU and the given RSS; returns when it trimmed. */
function run(state: IdleTrimState, steps: { cpuMs: number; rssMiB: number; holdsTimedWork?: boolean }[]) {
  const trims: number[] = [];
  steps.forEach((step, index) => {
    const last = state.last;
    const sample: IdleSample = {
      atMs: last.atMs + 500,
      cpuMs: last.cpuMs + step.cpuMs,
      rssBytes: step.rssMiB * MiB,
      holdsTimedWork: step.holdsTimedWork ?? false,
    };
    const decision = decideIdleTrim(state, sample, settings);
    state = decision.state;
    if (decision.trim) {
      trims.push(index);
      state = trimmed(state, 100 * MiB);
    }
  });
  return { trims, state };
}

const start = () => initialIdleTrim({ atMs: 0, cpuMs: 0, rssBytes: 100 * MiB });
const busy = (rssMiB: number) => ({ cpuMs: 400, rssMiB });
const quiet = (rssMiB: number) => ({ cpuMs: 2, rssMiB });

describe("idle trim", () => {
  it("trims once a process that grew under load has been quiet for the whole window", () => {
    const { trims } = run(start(), [busy(200), busy(400), quiet(400), quiet(400), quiet(400), quiet(400), quiet(400)]);
    // Quiet from the end of the last busy sample: 2 s later is the fourth quiet sample.
    expect(trims).toEqual([5]);
  });

  it("does not trim while the process works, nor again when it is quiet without having grown", () => {
    expect(run(start(), [busy(200), busy(300), busy(400), busy(400), busy(400), busy(400)]).trims).toEqual([]);
    // Its first quiet window after the start trims (starting up is growth); then nothing more.
    expect(
      run(
        start(),
        Array.from({ length: 20 }, () => quiet(110)),
      ).trims,
    ).toEqual([3]);
  });

  it("is never quiet while it holds work due at set times, however little CPU that takes", () => {
    const waiting = (rssMiB: number) => ({ ...quiet(rssMiB), holdsTimedWork: true });
    const held = [busy(300), ...Array.from({ length: 8 }, () => waiting(300))];
    expect(run(start(), held).trims).toEqual([]);
    // Once the work is done, quiet counts from the last sample that held it: 2 s later is the fourth quiet one.
    expect(run(start(), [...held, quiet(300), quiet(300), quiet(300), quiet(300), quiet(300)]).trims).toEqual([12]);
  });

  it("starts the quiet window again after any busy sample", () => {
    const { trims } = run(start(), [busy(300), quiet(300), quiet(300), quiet(300), busy(300), quiet(300), quiet(300)]);
    expect(trims).toEqual([]);
  });

  it("trims again only after the next load made it grow again", () => {
    const load = [busy(300), quiet(300), quiet(300), quiet(300), quiet(300)];
    // The trim leaves RSS at 100 MiB (run's trimmed()); quiet at that size is no reason to trim.
    const { trims } = run(start(), [...load, quiet(100), quiet(100), quiet(100), quiet(100), ...load]);
    expect(trims).toEqual([4, 13]);
  });

  it("counts growth from the lowest RSS seen, so V8's own shrinking does not hide a later load", () => {
    const afterFirstTrim = trimmed(initialIdleTrim({ atMs: 0, cpuMs: 0, rssBytes: 300 * MiB }), 300 * MiB);
    const { trims } = run(afterFirstTrim, [quiet(100), busy(120), quiet(120), quiet(120), quiet(120), quiet(120)]);
    expect(trims).toEqual([5]);
  });
});
