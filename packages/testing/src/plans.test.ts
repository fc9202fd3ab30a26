import { describe, expect, it } from "vitest";
import { criticalPathMs, randomDag } from "./plans.ts";

describe("plans", () => {
  it("measures the longest chain, not the sum", () => {
    const diamond = [
      { id: "a", ms: 100, deps: [] },
      { id: "b", ms: 100, deps: ["a"] },
      { id: "c", ms: 150, deps: ["a"] },
      { id: "d", ms: 100, deps: ["b", "c"] },
    ];
    expect(criticalPathMs(diamond)).toBe(350);
  });

  it("builds the same DAG from the same seed, each node naming only earlier ones", () => {
    const dag = randomDag(7, 12, 40, 120);
    expect(randomDag(7, 12, 40, 120)).toEqual(dag);
    dag.forEach((node, i) => {
      expect(node.ms).toBeGreaterThanOrEqual(40);
      for (const dep of node.deps) expect(Number(dep.slice(1))).toBeLessThan(i);
    });
  });
});
