import { describe, expect, it } from "vitest";
import {
  decideIdleTrim,
  initialIdleTrim,
  stillQuiet,
  trimmed,
  type IdleSample,
  type IdleTrimState,
} from "./idle-trim.ts";

const MiB = 2 ** 20;
const settings = {
  quietCpuShare: 0.05,
  quietForMs: 2_000,
  youngQuietForMs: 5_000,
  heldWorkQuietForMs: 10_000,
  minGrowthBytes: 16 * MiB,
  confirmCpuShare: 0.01,
};

interface Step {
  cpuMs: number;
  rssMiB: number;
  /** Of it, the young generation's (none unless given). */
  youngMiB?: number;
  holdsTimedWork?: boolean;
  holdsWork?: boolean;
}

/**
 * Feeds samples 500 ms apart, each with `cpuMsPerSample` of CPU and the given RSS; returns when it
 * trimmed. A trim leaves 100 MiB, 4 of them the young generation's.
 */
function run(state: IdleTrimState, steps: Step[]) {
  const trims: number[] = [];
  steps.forEach((step, index) => {
    const last = state.last;
    const sample: IdleSample = {
      atMs: last.atMs + 500,
      cpuMs: last.cpuMs + step.cpuMs,
      rssBytes: step.rssMiB * MiB,
      youngBytes: (step.youngMiB ?? 0) * MiB,
      holdsTimedWork: step.holdsTimedWork ?? false,
      holdsWork: step.holdsWork ?? false,
    };
    const decision = decideIdleTrim(state, sample, settings);
    state = decision.state;
    if (decision.trim) {
      trims.push(index);
      state = trimmed(state, { ...sample, rssBytes: 100 * MiB, youngBytes: 4 * MiB });
    }
  });
  return { trims, state };
}

const start = () => initialIdleTrim({ atMs: 0, cpuMs: 0, rssBytes: 100 * MiB, youngBytes: 4 * MiB });
const busy = (rssMiB: number, youngMiB = 0): Step => ({ cpuMs: 400, rssMiB, youngMiB });
const quiet = (rssMiB: number, youngMiB = 0): Step => ({ cpuMs: 2, rssMiB, youngMiB });

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

  it("waits for the longer quiet while it handles deliveries, and trims as usual once they are done", () => {
    const running = (rssMiB: number) => ({ ...quiet(rssMiB), holdsWork: true });
    // Calls started under load, then running quietly: not at 2 s, but at 10 s (here) of quiet.
    const calls = [busy(300), ...Array.from({ length: 24 }, () => running(300))];
    expect(run(start(), calls).trims).toEqual([20]);
    // The calls end 3 s into the quiet: the usual 2 s have passed, so the first sample without them trims.
    const ended = [busy(300), ...Array.from({ length: 6 }, () => running(300)), quiet(300), quiet(300)];
    expect(run(start(), ended).trims).toEqual([7]);
    // Only the young generation grew: the longer of the two windows.
    const afterTrim = run(start(), [busy(300), quiet(300), quiet(300), quiet(300), quiet(300)]).state;
    const young = Array.from({ length: 24 }, () => ({ ...running(124), youngMiB: 28 }));
    expect(run(afterTrim, [{ ...busy(124), youngMiB: 28 }, ...young]).trims).toEqual([20]);
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
    const first = { atMs: 0, cpuMs: 0, rssBytes: 300 * MiB, youngBytes: 0 };
    const afterFirstTrim = trimmed(initialIdleTrim(first), first);
    const { trims } = run(afterFirstTrim, [quiet(100), busy(120), quiet(120), quiet(120), quiet(120), quiet(120)]);
    expect(trims).toEqual([5]);
  });

  it("waits for a longer quiet when only the young generation grew: bursts a few seconds apart trim once", () => {
    // After a trim (100 MiB, 4 of them young), each burst grows the young generation to 28 MiB.
    const burst = [busy(124, 28), quiet(124, 28), quiet(124, 28), quiet(124, 28), quiet(124, 28), quiet(124, 28)];
    const afterTrim = run(start(), [busy(300), quiet(300), quiet(300), quiet(300), quiet(300)]);
    expect(afterTrim.trims).toEqual([4]);
    const bursts = run(afterTrim.state, [...burst, ...burst, ...burst]);
    expect(bursts.trims).toEqual([]);
    // Quiet for the young generation's longer window (5 s here, the 10th quiet sample): trimmed.
    const lull = run(
      bursts.state,
      Array.from({ length: 12 }, () => quiet(124, 28)),
    );
    expect(lull.trims).toEqual([4]);
    // The same growth outside the young generation is a load: trimmed after the usual 2 s.
    expect(run(afterTrim.state, burst).trims).toEqual([]);
    expect(
      run(afterTrim.state, [busy(124, 4), quiet(124, 4), quiet(124, 4), quiet(124, 4), quiet(124, 4)]).trims,
    ).toEqual([4]);
  });

  it("is called off by a look just after the decision that finds work begun", () => {
    const quietFor = run(start(), [busy(300), quiet(300), quiet(300), quiet(300)]).state;
    const at = (state: IdleTrimState, afterMs: number, cpuMs: number, holdsTimedWork = false): IdleSample => ({
      atMs: state.last.atMs + afterMs,
      cpuMs: state.last.cpuMs + cpuMs,
      rssBytes: 300 * MiB,
      youngBytes: 0,
      holdsTimedWork,
    });
    // 2 s into the quiet: due.
    const due = decideIdleTrim(quietFor, at(quietFor, 500, 2), settings);
    expect(due.trim).toBe(true);
    // Looked at again 100 ms on: still idle (1 ms of CPU), or work begun: a little (5 ms, quiet by the
    // 500 ms samples' measure), a burst (20 ms), or calls now waiting for a limit's window.
    const look = { ...settings, confirmCpuShare: 0.02 };
    expect(stillQuiet(due.state, at(due.state, 100, 1), look)).toBe(true);
    expect(stillQuiet(due.state, at(due.state, 100, 5), look)).toBe(false);
    expect(stillQuiet(due.state, at(due.state, 100, 20), look)).toBe(false);
    expect(stillQuiet(due.state, at(due.state, 100, 1, true), look)).toBe(false);
    // A delivery taken in hand since the decision (a call started, a round or a request come in).
    expect(stillQuiet(due.state, { ...at(due.state, 100, 1), holdsWork: true }, look)).toBe(false);
  });
});
