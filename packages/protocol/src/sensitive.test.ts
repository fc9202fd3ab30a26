import { describe, expect, it } from "vitest";
import { REDACTED, redactPaths, sensitivePaths } from "./sensitive.ts";

describe("sensitive tool arguments", () => {
  const schema = {
    type: "object",
    properties: {
      user: { type: "string" },
      password: { type: "string", "x-sensitive": true },
      pin: { type: "string", writeOnly: true },
      otp: { type: "string", format: "password" },
      accounts: { type: "array", items: { $ref: "#/$defs/account" } },
      headers: { type: "object", additionalProperties: { type: "string", "x-sensitive": true } },
      either: { anyOf: [{ type: "string" }, { type: "object", properties: { token: { "x-sensitive": true } } }] },
    },
    $defs: { account: { type: "object", properties: { id: { type: "string" }, key: { "x-sensitive": true } } } },
  };

  it("finds every field marked by x-sensitive, writeOnly or format password, through items, refs and unions", () => {
    expect(sensitivePaths(schema)).toEqual([
      ["password"],
      ["pin"],
      ["otp"],
      ["accounts", "*", "key"],
      ["headers", "*"],
      ["either", "token"],
    ]);
  });

  it("replaces only the marked values, in a copy", () => {
    const args = {
      user: "ada",
      password: "hunter2",
      pin: "1234",
      otp: "999",
      accounts: [
        { id: "a", key: "k1" },
        { id: "b", key: "k2" },
      ],
      headers: { authorization: "Bearer x" },
      either: { token: "t" },
    };
    const original = structuredClone(args);
    expect(redactPaths(args, sensitivePaths(schema))).toEqual({
      user: "ada",
      password: REDACTED,
      pin: REDACTED,
      otp: REDACTED,
      accounts: [
        { id: "a", key: REDACTED },
        { id: "b", key: REDACTED },
      ],
      headers: { authorization: REDACTED },
      either: { token: REDACTED },
    });
    expect(args).toEqual(original);
  });

  it("leaves arguments alone when nothing is marked, and absent or odd-shaped values as they are", () => {
    expect(sensitivePaths({ type: "object", properties: { q: { type: "string" } } })).toEqual([]);
    expect(redactPaths({ user: "ada" }, [["password"]])).toEqual({ user: "ada" });
    expect(redactPaths("not an object", [["password"]])).toBe("not an object");
    expect(redactPaths({ secret: 1 }, [[]])).toBe(REDACTED);
  });

  it("does not loop on a recursive $ref", () => {
    const tree = { $ref: "#/$defs/node", $defs: { node: { properties: { child: { $ref: "#/$defs/node" } } } } };
    expect(sensitivePaths(tree)).toEqual([]);
  });
});
