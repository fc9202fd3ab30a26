import { describe, expect, it } from "vitest";
import { concurrencyScope, type OfferedTool } from "@toolformer/protocol";
import { admit, combine, type SpeculationPolicy } from "./candidates.ts";
import { addCalibration, EVIDENCE_HALF_LIFE_MS, precision } from "./precision.ts";

const policy: SpeculationPolicy = {
  threshold: 0.6,
  maxPerRequest: 8,
  rateShare: 0.25,
  executorShare: 0.25,
  concurrencyWhenUnknown: 4,
};
const tool = (over: Partial<OfferedTool["definition"]> = {}, capacity?: number): OfferedTool => ({
  definition: {
    name: "search",
    description: "",
    parameters: {},
    readOnly: true,
    idempotent: true,
    source: "typescript",
    ...over,
  },
  ...(capacity === undefined ? {} : { capacity }),
});
const noProblems = () => undefined;

describe("combining predictions", () => {
  it("merges the same call however its arguments are ordered, and agreement raises confidence", () => {
    const [candidate, ...rest] = combine(
      [
        { tool: "search", args: { a: 1, b: 2 }, confidence: 0.5, predictor: "history" },
        { tool: "search", args: { b: 2, a: 1 }, confidence: 0.5, predictor: "fast-model" },
      ],
      () => 1,
    );
    expect(rest).toEqual([]);
    expect(candidate!.confidence).toBeCloseTo(0.75);
    expect(candidate!.predictors).toEqual(["history", "fast-model"]);
  });

  it("scales each predictor by its precision for the tool", () => {
    expect(precision({ hits: 0, misses: 0, wastedMs: 0, at: 0 }, 1_000)).toBe(1);
    expect(precision({ hits: 1, misses: 4, wastedMs: 0, at: 1_000 }, 1_000)).toBe(0.5);
    const [candidate] = combine([{ tool: "t", args: {}, confidence: 1, predictor: "fast-model" }], () => 0.5);
    expect(candidate!.confidence).toBe(0.5);
  });
});

describe("admitting a candidate", () => {
  const candidate = { key: "k", tool: "search", args: {}, confidence: 0.9, predictors: ["history"] };

  it("never speculates a tool that is not read-only, idempotent or not, whatever the confidence", () => {
    const sideEffects = tool({ readOnly: false, idempotent: false });
    // Safe to repeat once the model asked (an overwrite), never safe to guess.
    const overwrite = tool({ readOnly: false, idempotent: true, destructive: true });
    for (const written of [sideEffects, overwrite])
      expect(admit({ ...candidate, confidence: 1 }, written, policy, noProblems)).toEqual({
        refused: "the tool is not read-only",
      });
  });

  it("refuses below the threshold and arguments the schema rejects", () => {
    expect(admit({ ...candidate, confidence: 0.5 }, tool(), policy, noProblems)).toHaveProperty("refused");
    expect(admit(candidate, tool(), policy, () => "/q is required")).toHaveProperty("refused");
  });

  it("budgets a share of the tool's rate limit and of its executors' capacity", () => {
    const verdict = admit(candidate, tool({ rateLimit: { limit: 20, intervalMs: 1000 } }, 16), policy, noProblems);
    expect(verdict).toEqual({
      scopes: [
        { key: "speculation:tool:search", limit: 5, intervalMs: 1000 },
        // Leased like any cap's places: the executor that runs the call renews them.
        concurrencyScope("concurrency:speculation:search", 4),
      ],
    });
    expect(admit(candidate, tool({ rateLimit: { limit: 3, intervalMs: 1000 } }), policy, noProblems)).toEqual({
      refused: "the tool's rate limit leaves no share for speculation",
    });
  });
});

describe("calibration", () => {
  it("lets doubt fade, so a predictor silenced by misses is tried again later", () => {
    const now = 10 * EVIDENCE_HALF_LIFE_MS;
    const silenced = { hits: 0, misses: 10, wastedMs: 500, at: now };
    expect(precision(silenced, now)).toBeLessThan(0.3);
    expect(precision(silenced, now + 2 * EVIDENCE_HALF_LIFE_MS)).toBeGreaterThan(0.5);
    expect(precision(silenced, now + 10 * EVIDENCE_HALF_LIFE_MS)).toBeGreaterThan(0.95);
  });

  it("adds counts from copies, fading the older ones, and keeps the wasted time whole", () => {
    const later = EVIDENCE_HALF_LIFE_MS * 2;
    const sum = addCalibration(
      { hits: 4, misses: 2, wastedMs: 100, at: EVIDENCE_HALF_LIFE_MS },
      { hits: 1, misses: 0, wastedMs: 50, at: later },
    );
    expect(sum).toEqual({ hits: 3, misses: 1, wastedMs: 150, at: later });
  });
});
