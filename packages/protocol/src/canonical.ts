import { createHash } from "node:crypto";

/**
 * JSON with object keys sorted at every level: two argument objects that differ only in key order
 * or whitespace give the same text, so a speculative call and the model's call can be matched.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value)) ?? "null";
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== "object" || value === null) return value;
  const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries.map(([key, inner]) => [key, sortKeys(inner)]));
}

/** What identifies a call for matching: its tool and canonical arguments, hashed to a short token. */
export function callMatchKey(tool: string, args: unknown): string {
  return createHash("sha256").update(tool).update("\n").update(canonicalJson(args)).digest("hex").slice(0, 32);
}
