/**
 * When a process that has gone quiet after work gives its memory back (ADR 0031). Node 24's V8 keeps
 * the heap pages a garbage collection frees in a pool for reuse, and empties that pool only in a
 * memory-reducing collection, which V8 itself starts seconds after it sees the process idle, or not at
 * all while timers keep it a little busy. So an actor that once held 1,000 requests keeps their
 * memory resident long after they finished, unless it asks for that collection itself. This decides
 * when: once it is quiet, once per load that made it grow.
 *
 * Growth of the young generation alone waits for a longer quiet. A trim shrinks the young generation
 * to its least, and the next burst of work grows it again (scavenging often on the way, as it starts
 * small): counted as growth, every burst was a load, and a process serving bursts a few seconds apart
 * trimmed after each one and paid for it in the next. That took half the actors' CPU in the
 * utilization benchmark (ADR 0045).
 *
 * Work in hand waits for a much longer quiet. A process that handles deliveries (calls running in an
 * executor, rounds in a scheduler, requests in a dispatcher) uses almost no CPU while it waits for them,
 * yet a result or a cancel may come at any moment, and the trim's pause (40–120 ms) holds it: executors,
 * the scheduler and the dispatcher were seen trimming 96–124 ms in the second before a cancel while they
 * held its calls, its round and its request (ADR 0046).
 */
export interface IdleTrimSettings {
  /** A sample whose CPU time is at most this share of its wall time counts as quiet. */
  quietCpuShare: number;
  /** Quiet this long without a break before trimming what a load left outside the young generation, milliseconds. */
  quietForMs: number;
  /** Quiet this long without a break before trimming growth of the young generation alone, milliseconds. */
  youngQuietForMs: number;
  /** Quiet this long, at the least, before trimming while deliveries are in hand (`IdleSample.holdsWork`). */
  heldWorkQuietForMs: number;
  /** Trim only when RSS has grown this much above what the last trim (or the start) left, bytes. */
  minGrowthBytes: number;
  /** A due trim runs only if the look after the decision finds at most this share of a core used since. */
  confirmCpuShare: number;
}

/**
 * Quiet at 10 % of one core (an idle actor's heartbeats and pulls use well under 1 %), for 2 s, after
 * growing by 8 MiB: the trim (a full, compacting collection of a small heap, tens of milliseconds)
 * happens once per load, when nothing waits for the process. A copy that trims in a lull of a load and
 * then grows less than this keeps that growth: with 16 MiB the speculation engine once idled at 102 MB
 * after the benchmark's load, 90-91 in the other runs. The look before a trim asks for 2 %: a rate
 * limiter answering the first acquires of a burst used 3-10 % of a core, and a trim then (two full
 * collections, 100 ms) held every grant of the burst's first window.
 */
export const DEFAULT_IDLE_TRIM: IdleTrimSettings = {
  quietCpuShare: 0.1,
  quietForMs: 2_000,
  youngQuietForMs: 5_000,
  heldWorkQuietForMs: 30_000,
  minGrowthBytes: 8 * 2 ** 20,
  confirmCpuShare: 0.02,
};

export interface IdleTrimState {
  /** The lowest RSS since the last trim (or the start); growth is counted from here, bytes. */
  baselineBytes: number;
  /** The lowest RSS less the young generation since the last trim (or the start), bytes. */
  baselineSettledBytes: number;
  /** Since when every sample has been quiet (epoch ms); undefined: the last one was busy. */
  quietSinceMs: number | undefined;
  /** The previous sample, to tell the CPU time used since. */
  last: IdleSample;
}

/** One reading of the process. */
export interface IdleSample {
  atMs: number;
  /** CPU time used so far (user + system), milliseconds. */
  cpuMs: number;
  rssBytes: number;
  /** Of it, the young generation's pages (V8's new spaces), bytes. */
  youngBytes: number;
  /**
   * It holds work due at set times (calls waiting in a rate limiter's lines): not quiet, however little
   * CPU it uses. A trim's pause there (50-130 ms) came as the limit's next window opened, and every
   * grant of that window, and of the windows after it, started that much later.
   */
  holdsTimedWork?: boolean;
  /**
   * It handles deliveries whose outcome someone waits for. Quiet still counts, but a trim waits for
   * `heldWorkQuietForMs`: memory a load left is still given back if calls run for minutes, and work
   * that ends or is cancelled within seconds never meets the pause.
   */
  holdsWork?: boolean;
}

/**
 * A process that has just started has just grown: loading its modules and connecting filled a young
 * generation of up to 2 × 16 MiB that idle work never fills again. So growth counts from nothing until
 * the first trim, and the first quiet window after the start trims too (a fresh rate limiter: 101 → 85
 * MB RSS).
 */
export function initialIdleTrim(first: IdleSample): IdleTrimState {
  return { baselineBytes: 0, baselineSettledBytes: 0, quietSinceMs: undefined, last: first };
}

/**
 * The state after `sample`, and whether to trim now. After a trim, the caller reports what RSS it
 * left with `trimmed`, so a process whose RSS does not shrink (memory outside the heap) is not
 * trimmed again until it grows again.
 */
export function decideIdleTrim(
  state: IdleTrimState,
  sample: IdleSample,
  settings: IdleTrimSettings = DEFAULT_IDLE_TRIM,
): { state: IdleTrimState; trim: boolean } {
  const wallMs = sample.atMs - state.last.atMs;
  const quiet =
    !sample.holdsTimedWork && wallMs > 0 && (sample.cpuMs - state.last.cpuMs) / wallMs <= settings.quietCpuShare;
  const quietSinceMs = quiet ? (state.quietSinceMs ?? state.last.atMs) : undefined;
  const next = {
    baselineBytes: Math.min(state.baselineBytes, sample.rssBytes),
    baselineSettledBytes: Math.min(state.baselineSettledBytes, settledBytes(sample)),
    quietSinceMs,
    last: sample,
  };
  const quietMs = quietSinceMs === undefined ? 0 : sample.atMs - quietSinceMs;
  const quietFor = (ms: number) => quietMs >= (sample.holdsWork ? Math.max(ms, settings.heldWorkQuietForMs) : ms);
  const trim =
    quietSinceMs !== undefined &&
    ((quietFor(settings.quietForMs) && settledBytes(sample) - state.baselineSettledBytes >= settings.minGrowthBytes) ||
      (quietFor(settings.youngQuietForMs) && sample.rssBytes - state.baselineBytes >= settings.minGrowthBytes));
  return { state: next, trim };
}

/**
 * Whether a due trim may run, looked at again a moment after it was decided (`state` is the one that
 * decision left): the process has not begun work since, by its CPU, by timed work it holds, or by
 * deliveries it took in hand.
 */
export function stillQuiet(
  state: IdleTrimState,
  sample: IdleSample,
  settings: IdleTrimSettings = DEFAULT_IDLE_TRIM,
): boolean {
  const wallMs = sample.atMs - state.last.atMs;
  // Work taken in hand since: the decision was for a process with none, whose quiet was shorter.
  const workBegun = sample.holdsWork === true && state.last.holdsWork !== true;
  return (
    !sample.holdsTimedWork &&
    !workBegun &&
    wallMs > 0 &&
    (sample.cpuMs - state.last.cpuMs) / wallMs <= settings.confirmCpuShare
  );
}

/** What a sample's RSS holds besides the young generation: what a load leaves behind. */
function settledBytes(sample: IdleSample): number {
  return sample.rssBytes - sample.youngBytes;
}

/** The state once a trim left the process as `after` shows it: growth counts from there, and quiet starts anew. */
export function trimmed(state: IdleTrimState, after: IdleSample): IdleTrimState {
  return {
    ...state,
    baselineBytes: after.rssBytes,
    baselineSettledBytes: settledBytes(after),
    quietSinceMs: undefined,
    last: after,
  };
}
