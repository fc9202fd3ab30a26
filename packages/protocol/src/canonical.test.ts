import { describe, expect, it } from "vitest";
import { callMatchKey, canonicalJson } from "./canonical.ts";

describe("canonical arguments", () => {
  it("ignores key order at every level and whitespace", () => {
    const a = JSON.parse('{ "b": 1, "a": { "y": [1, {"q": 2, "p": 3}], "x": "s" } }') as unknown;
    const b = JSON.parse('{"a":{"x":"s","y":[1,{"p":3,"q":2}]},"b":1}') as unknown;
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(callMatchKey("t", a)).toBe(callMatchKey("t", b));
  });

  it("keeps array order, values and the tool significant", () => {
    expect(callMatchKey("t", { a: [1, 2] })).not.toBe(callMatchKey("t", { a: [2, 1] }));
    expect(callMatchKey("t", { a: "1" })).not.toBe(callMatchKey("t", { a: 1 }));
    expect(callMatchKey("t", {})).not.toBe(callMatchKey("u", {}));
  });
});
