/** How a predictor has fared for a tool: its speculative calls that were claimed or missed. */
export interface Calibration {
  hits: number;
  misses: number;
  /** Time missed calls had run, in all (a running total: it does not fade). */
  wastedMs: number;
  /** When the counts were last brought up to date, epoch ms. */
  at: number;
}

export const EMPTY_CALIBRATION: Calibration = { hits: 0, misses: 0, wastedMs: 0, at: 0 };

/** Pseudo-hits a predictor starts with, so a first miss does not silence it and it earns doubt by missing. */
const PRIOR_HITS = 3;

/**
 * Evidence fades by half every this long. A predictor silenced by its misses gets no new evidence (it
 * is no longer allowed to guess), so without fading it would stay silent; with it, it is tried again.
 */
export const EVIDENCE_HALF_LIFE_MS = 30 * 60_000;

/** The counts as they stand at `now`, faded since they were last brought up to date. */
export function faded(calibration: Calibration, now: number): Calibration {
  // Counts stored without a time (none yet, or written before times were kept) carry no weight.
  const factor = calibration.at ? 0.5 ** (Math.max(0, now - calibration.at) / EVIDENCE_HALF_LIFE_MS) : 0;
  return { ...calibration, hits: calibration.hits * factor, misses: calibration.misses * factor, at: now };
}

/** Two records of the same predictor and tool added together (copies count apart and merge in KV). */
export function addCalibration(a: Calibration, b: Calibration): Calibration {
  const at = Math.max(a.at || 0, b.at || 0);
  const [x, y] = [faded(a, at), faded(b, at)];
  return { hits: x.hits + y.hits, misses: x.misses + y.misses, wastedMs: a.wastedMs + b.wastedMs, at };
}

/** The share of a predictor's speculative calls for a tool that were claimed, starting from trust. */
export function precision(calibration: Calibration, now: number): number {
  const { hits, misses } = faded(calibration, now);
  return (hits + PRIOR_HITS) / (hits + misses + PRIOR_HITS);
}
