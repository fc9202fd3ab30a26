/**
 * The result cache of read-only tools (docs/tools.md#result-cache): one KV key per tool, version and
 * canonical arguments in `tf_result_cache`. A key is first a lease (one executor runs the call, the
 * others wait for its result: single flight), then the result until it expires.
 */
import { hash } from "node:crypto";
import { z } from "zod";
import { canonicalJson } from "../canonical.ts";

export const CacheEntrySchema = z.discriminatedUnion("state", [
  /**
   * A call holds the key: it waits for its permit, then runs; identical calls wait for its result until
   * `leaseUntil` (epoch ms). `holder` names the call, so that the same call asking again (its run after
   * its permit, a retry) keeps its lease instead of waiting for itself; absent in older executors' leases.
   */
  z.object({
    state: z.literal("running"),
    executorId: z.string(),
    leaseUntil: z.number(),
    holder: z.string().optional(),
  }),
  /**
   * The result, good until `expiresAt` (epoch ms): nats-server 2.9 has no per-key TTL, so the entry
   * carries its own, and the bucket's `max_age` removes what nobody reads again.
   */
  z.object({ state: z.literal("stored"), result: z.unknown(), storedAt: z.number(), expiresAt: z.number() }),
]);
export type CacheEntry = z.infer<typeof CacheEntrySchema>;

/**
 * The key of a call's result: the tool, then a digest of its version and canonical arguments (key order
 * and whitespace do not matter), so any arguments make a valid key and a new version misses.
 */
export function resultCacheKey(tool: string, version: string, args: unknown): string {
  const digest = hash("sha256", `${version}\0${canonicalJson(args)}`, "hex");
  return `${tool}.${digest}`;
}
