import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { callMatchKey, canonicalJson } from "./canonical.ts";
import { MESSAGE_IDS } from "./message-ids.ts";

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

/** What canonicalJson was before it wrote the text directly: ids hashed from it must not change. */
function sortedCopyJson(value: unknown): string {
  const sortKeys = (inner: unknown): unknown => {
    if (Array.isArray(inner)) return inner.map(sortKeys);
    if (typeof inner !== "object" || inner === null) return inner;
    const entries = Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([key, v]) => [key, sortKeys(v)]));
  };
  return JSON.stringify(sortKeys(value)) ?? "null";
}

describe("canonical text", () => {
  it("is the text the sorted copy gave, for every kind of value", () => {
    const sparse: unknown[] = [1];
    sparse[3] = 2;
    const values: unknown[] = [
      undefined,
      null,
      0,
      -0,
      1.5e300,
      Number.NaN,
      Infinity,
      'quote " backslash \\ newline \n unicode \u2028 \ud800',
      true,
      [],
      {},
      [undefined, () => 1, Symbol("s"), null, { a: undefined }],
      sparse,
      { b: 1, a: { y: [1, { q: 2, p: 3 }], x: "s" }, skip: undefined, fn: () => 1 },
      {
        "10": "ten",
        "9": "nine",
        "01": "zero one",
        "-1": "minus",
        "4294967295": "big",
        "4294967294": "max",
        a: 1,
        B: 2,
      },
      { when: new Date(0), boxed: new String("ab"), nested: { "2": [{ z: 1, "1": 0 }] } },
      { ü: 1, u: 2, "\ud83d\ude00": 3, "": 4 },
    ];
    for (const value of values) expect(canonicalJson(value)).toBe(sortedCopyJson(value));
  });

  it("matches on random nested values", () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const keys = ["a", "b", "B", "10", "2", "0", "_", "é", "key with space"];
    const make = (depth: number): unknown => {
      const pick = random();
      if (depth > 3 || pick < 0.3) return [1, "s", null, true, 2.5, undefined][Math.floor(random() * 6)];
      if (pick < 0.6) return Array.from({ length: Math.floor(random() * 4) }, () => make(depth + 1));
      return Object.fromEntries(
        Array.from({ length: Math.floor(random() * 5) }, () => [
          keys[Math.floor(random() * keys.length)]!,
          make(depth + 1),
        ]),
      );
    };
    for (let i = 0; i < 500; i++) {
      const value = make(0);
      expect(canonicalJson(value)).toBe(sortedCopyJson(value));
    }
  });
});

describe("digests of canonical text", () => {
  it("are those an incremental sha256 gave (ids and keys stay the same across an upgrade)", () => {
    const args = { b: [1, { d: "x", c: null }], a: "é" };
    const before = createHash("sha256").update("tool").update("\n").update(canonicalJson(args)).digest("hex");
    expect(callMatchKey("tool", args)).toBe(before.slice(0, 32));
    const event = { type: "tool.cancelled", requestId: "r-1", callId: "c", tool: "t", round: 1 } as const;
    const digest = createHash("sha256").update(canonicalJson(event)).digest("hex").slice(0, 24);
    expect(MESSAGE_IDS.event(event)).toBe(`r-1:tool.cancelled:${digest}`);
  });
});
