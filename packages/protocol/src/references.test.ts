import { describe, expect, it } from "vitest";
import { dependenciesOf, planProblems, pointInto, renameReferences, resolveReferences } from "./references.ts";

describe("references between calls", () => {
  it("finds every reference, nested in objects and arrays, and each call once", () => {
    const args = { a: { $ref: "x" }, list: [{ $ref: "y#/items/0" }, { keep: 1 }], again: { $ref: "x#/n" } };
    expect(dependenciesOf(args)).toEqual(["x", "y"]);
    // An object with other keys beside $ref is data, not a reference.
    expect(dependenciesOf({ $ref: "x", other: 1 })).toEqual([]);
  });

  it("replaces references with the named results or parts of them", () => {
    const results: Record<string, unknown> = { x: { n: 4, "a/b": [10, 20] }, y: "text" };
    const resolved = resolveReferences(
      { whole: { $ref: "y" }, part: { $ref: "x#/n" }, escaped: { $ref: "x#/a~1b/1" }, plain: [1, { $ref: "x#/n" }] },
      (id) => results[id],
    );
    expect(resolved).toEqual({ ok: true, value: { whole: "text", part: 4, escaped: 20, plain: [1, 4] } });
  });

  it("says which pointer found nothing", () => {
    const resolved = resolveReferences({ v: { $ref: "x#/missing" } }, () => ({ n: 1 }));
    expect(resolved).toEqual({ ok: false, error: "$ref x#/missing: the result has nothing at /missing" });
    expect(pointInto([1, 2], "/2").ok).toBe(false);
    expect(pointInto([1, 2], "/01").ok).toBe(false);
    expect(pointInto("s", "/0").ok).toBe(false);
  });

  it("names dangling references and every cycle in a plan", () => {
    const plan = [
      { callId: "a", args: { v: { $ref: "b" } } },
      { callId: "b", args: { v: { $ref: "c" } } },
      { callId: "c", args: { v: { $ref: "a" } } },
      { callId: "d", args: { v: { $ref: "nowhere" } } },
      { callId: "e", args: { v: { $ref: "e" } } },
      { callId: "f", args: { v: { $ref: "d" } } },
    ];
    const problems = planProblems(plan);
    expect(problems.dangling).toEqual([{ callId: "d", missing: "nowhere" }]);
    expect(problems.cycles).toEqual([
      ["a", "b", "c", "a"],
      ["e", "e"],
    ]);
  });

  it("finds no problem in a diamond", () => {
    const plan = [
      { callId: "a", args: {} },
      { callId: "b", args: { v: { $ref: "a" } } },
      { callId: "c", args: { v: { $ref: "a" } } },
      { callId: "d", args: { l: { $ref: "b" }, r: { $ref: "c" } } },
    ];
    expect(planProblems(plan)).toEqual({ dangling: [], cycles: [] });
  });
});

describe("renamed calls", () => {
  it("points references at the new ids and keeps pointers", () => {
    const renamed = new Map([["call_0", "r2-c0"]]);
    expect(renameReferences({ a: { $ref: "call_0#/x" }, b: [{ $ref: "call_0" }, { $ref: "other" }] }, renamed)).toEqual(
      {
        a: { $ref: "r2-c0#/x" },
        b: [{ $ref: "r2-c0" }, { $ref: "other" }],
      },
    );
  });
});
