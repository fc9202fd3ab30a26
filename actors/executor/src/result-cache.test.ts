import { describe, expect, it } from "vitest";
import type { ExecCall, ToolDefinition } from "@toolformer/protocol";
import { isCacheable, lookUpEntry } from "./result-cache.ts";

const quote: ToolDefinition = {
  name: "quote",
  description: "",
  parameters: {},
  readOnly: true,
  idempotent: true,
  source: "typescript",
  cache: { ttlMs: 1_000, version: "" },
};
const call = { tool: "quote", args: {} } as ExecCall;

describe("the result cache's decisions", () => {
  it("uses a stored result until it expires, waits for a live lease, and takes over anything else", () => {
    expect(lookUpEntry({ state: "stored", result: 1, storedAt: 0, expiresAt: 100 }, 99)).toEqual({
      kind: "hit",
      result: 1,
    });
    expect(lookUpEntry({ state: "stored", result: 1, storedAt: 0, expiresAt: 100 }, 100)).toEqual({ kind: "lead" });
    expect(lookUpEntry({ state: "running", executorId: "e", leaseUntil: 50 }, 10)).toEqual({
      kind: "wait",
      leaseUntil: 50,
    });
    expect(lookUpEntry({ state: "running", executorId: "e", leaseUntil: 50 }, 50)).toEqual({ kind: "lead" });
    expect(lookUpEntry(undefined, 0)).toEqual({ kind: "lead" });
  });

  it("is used only by read-only tools that opt in, and never when the request bypasses it", () => {
    expect(isCacheable(call, quote)).toBe(true);
    expect(isCacheable({ ...call, cache: false }, quote)).toBe(false);
    expect(isCacheable(call, { ...quote, readOnly: false })).toBe(false);
    const { cache: _none, ...uncached } = quote;
    expect(isCacheable(call, uncached)).toBe(false);
    expect(isCacheable(call, undefined)).toBe(false);
  });
});
