import type { KV } from "@nats-io/kv";
import { EventType, type OrchestrateEvent } from "@toolformer/protocol";
import { decodeValidated } from "@toolformer/runtime";
import { z } from "zod";
import type { Additive } from "./additive-flusher.ts";
import { addCalibration, EMPTY_CALIBRATION, precision, type Calibration } from "./predictors/precision.ts";

export const CALIBRATION: Additive<Calibration> = {
  empty: EMPTY_CALIBRATION,
  add: addCalibration,
};

const CalibrationSchema = z.object({
  hits: z.number().min(0),
  misses: z.number().min(0),
  wastedMs: z.number().min(0),
  at: z.number().min(0).default(0),
});

export const calibrationKey = (predictor: string, tool: string) => `calibration.${predictor}.${tool}`;

/** The calibration changes a speculation event makes, for every predictor that proposed the call. */
export function calibrationDeltas(event: OrchestrateEvent): [string, Calibration][] {
  if (event.type === EventType.speculationHit)
    return event.predictors.map((p) => [
      calibrationKey(p, event.tool),
      { ...EMPTY_CALIBRATION, hits: 1, at: event.at },
    ]);
  if (event.type === EventType.speculationMiss)
    return event.predictors.map((p) => [
      calibrationKey(p, event.tool),
      { ...EMPTY_CALIBRATION, misses: 1, wastedMs: event.wastedMs, at: event.at },
    ]);
  return [];
}

/** How long a copy trusts the precision it read; other copies' counts reach it after this. */
const CACHE_MS = 2_000;

/** Each predictor's precision per tool, read from KV (shared by every copy) and kept briefly. */
export class CalibrationCache {
  readonly #kv: KV;
  readonly #known = new Map<string, { precision: number; at: number }>();

  constructor(kv: KV) {
    this.#kv = kv;
  }

  /** Reads what the pairs need, so `precisionOf` can answer without waiting. */
  async load(pairs: { predictor: string; tool: string }[]): Promise<void> {
    const now = Date.now();
    const stale = new Set(
      pairs
        .map(({ predictor, tool }) => calibrationKey(predictor, tool))
        .filter((key) => now - (this.#known.get(key)?.at ?? 0) >= CACHE_MS),
    );
    // Read side by side: a turn's guesses are waiting on these.
    await Promise.all(
      [...stale].map(async (key) => {
        const entry = await this.#kv.get(key).catch(() => null);
        const decoded =
          entry?.operation === "PUT"
            ? decodeValidated(entry.value, undefined, CalibrationSchema, "msgpack")
            : undefined;
        this.#known.set(key, { precision: precision(decoded?.ok ? decoded.value : EMPTY_CALIBRATION, now), at: now });
      }),
    );
  }

  precisionOf(predictor: string, tool: string): number {
    return this.#known.get(calibrationKey(predictor, tool))?.precision ?? precision(EMPTY_CALIBRATION, Date.now());
  }
}
