import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import {
  decideIdleTrim,
  DEFAULT_IDLE_TRIM,
  initialIdleTrim,
  stillQuiet,
  trimmed,
  type IdleSample,
  type IdleTrimSettings,
} from "./idle-trim.ts";
import type { Logger } from "./logger.ts";

/** How often the process is looked at; a reading costs microseconds. */
const SAMPLE_EVERY_MS = 500;

/**
 * A trim is decided on the last 500 ms, so work that began in their last few milliseconds still reads
 * as quiet, and the trim's pause (30–70 ms) would fall on it: a limit's window, or a burst of calls,
 * once started that much later. So the trimmer looks again this long after deciding, and trims only if
 * that stretch was quieter still (`stillQuiet`).
 */
const CONFIRM_AFTER_MS = 100;

/** V8's young generation: where new objects go, and what a trim shrinks to its least. */
const YOUNG_SPACES = new Set(["new_space", "new_large_object_space"]);

/** What the process holds that a trim's pause would keep waiting (`IdleSample`). */
export interface HeldWork {
  timedWork(): boolean;
  work(): boolean;
}

function sample(held: HeldWork): IdleSample {
  const cpu = process.cpuUsage();
  return {
    atMs: Date.now(),
    cpuMs: (cpu.user + cpu.system) / 1000,
    rssBytes: process.memoryUsage.rss(),
    youngBytes: getHeapSpaceStatistics()
      .filter((space) => YOUNG_SPACES.has(space.space_name))
      .reduce((sum, space) => sum + space.physical_space_size, 0),
    holdsTimedWork: held.timedWork(),
    holdsWork: held.work(),
  };
}

/**
 * V8's `gc()`, whether or not node was started with `--expose-gc`: the flag set for a moment makes a
 * fresh context carry it, and the process's own global stays without it (what jest's leak detector does).
 */
function exposedGc(): NonNullable<typeof globalThis.gc> {
  if (globalThis.gc) return globalThis.gc;
  setFlagsFromString("--expose-gc");
  try {
    return runInNewContext("gc") as NonNullable<typeof globalThis.gc>;
  } finally {
    setFlagsFromString("--no-expose-gc");
  }
}

/**
 * Gives memory back once the process is quiet after a load (`idle-trim.ts`): a memory-reducing
 * collection ("last resort": V8 then also returns its pooled pages to the OS), never while the process
 * holds timed work, and only after a long quiet while it holds other work. Returns a stop function;
 * the timer never keeps the process alive.
 */
export function startIdleTrimmer(
  log: Logger,
  held: HeldWork,
  settings: IdleTrimSettings = DEFAULT_IDLE_TRIM,
): () => void {
  const gc = exposedGc();
  let state = initialIdleTrim(sample(held));
  let confirming: NodeJS.Timeout | undefined;
  const trim = () => {
    confirming = undefined;
    const now = sample(held);
    if (!stillQuiet(state, now, settings)) {
      state = decideIdleTrim(state, now, settings).state;
      return;
    }
    const startedAt = performance.now();
    gc({ type: "major", execution: "sync", flavor: "last-resort" });
    const after = sample(held);
    state = trimmed(state, after);
    log.debug(
      { rssBeforeBytes: now.rssBytes, rssAfterBytes: after.rssBytes, gcMs: Math.round(performance.now() - startedAt) },
      "quiet after a load: gave memory back",
    );
  };
  const look = () => {
    const decision = decideIdleTrim(state, sample(held), settings);
    state = decision.state;
    if (!decision.trim) return;
    confirming = setTimeout(trim, CONFIRM_AFTER_MS);
    confirming.unref();
  };
  const timer = setInterval(() => {
    if (confirming === undefined) look();
  }, SAMPLE_EVERY_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    clearTimeout(confirming);
  };
}
