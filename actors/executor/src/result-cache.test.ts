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
  it("uses a stored result until it expires, waits for another call's live lease, and takes over anything else", () => {
    const stored = { state: "stored", result: 1, storedAt: 0, expiresAt: 100 } as const;
    expect(lookUpEntry(stored, 99, "me")).toEqual({ kind: "hit", result: 1 });
    expect(lookUpEntry(stored, 100, "me")).toEqual({ kind: "lead" });
    const lease = { state: "running", executorId: "e", leaseUntil: 50, holder: "other" } as const;
    expect(lookUpEntry(lease, 10, "me")).toEqual({ kind: "wait", leaseUntil: 50 });
    expect(lookUpEntry(lease, 50, "me")).toEqual({ kind: "lead" });
    expect(lookUpEntry(undefined, 0, "me")).toEqual({ kind: "lead" });
  });

  it("lets the call that holds a lease keep it (its run after its permit, a retry), and an older executor's lease be waited for", () => {
    const mine = { state: "running", executorId: "e", leaseUntil: 50, holder: "me" } as const;
    expect(lookUpEntry(mine, 10, "me")).toEqual({ kind: "lead" });
    const { holder: _none, ...older } = mine;
    expect(lookUpEntry(older, 10, "me")).toEqual({ kind: "wait", leaseUntil: 50 });
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
