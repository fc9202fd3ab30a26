import { describe, expect, it } from "vitest";
import { evaluateArithmetic } from "./arithmetic.ts";

describe("evaluateArithmetic", () => {
  it("honours precedence, parentheses and unary minus", () => {
    expect(evaluateArithmetic("21*2")).toBe(42);
    expect(evaluateArithmetic("1 + 2 * 3")).toBe(7);
    expect(evaluateArithmetic("(1 + 2) * 3")).toBe(9);
    expect(evaluateArithmetic("-4 / 2 + 0.5")).toBe(-1.5);
  });

  it("refuses anything that is not arithmetic", () => {
    expect(() => evaluateArithmetic("process.exit(1)")).toThrow(/unexpected/);
    expect(() => evaluateArithmetic("1 +")).toThrow(/end of expression/);
    expect(() => evaluateArithmetic("(1")).toThrow(/missing \)/);
    expect(() => evaluateArithmetic("1/0")).toThrow(/finite/);
  });
});
