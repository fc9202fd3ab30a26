import {
  CacheEntrySchema,
  resultCacheKey,
  type CacheEntry,
  type ExecCall,
  type ToolDefinition,
} from "@toolformer/protocol";
import {
  decodeValidated,
  encodeInternal,
  KvCasStore,
  retryUntil,
  type ActorContext,
  type Logger,
} from "@toolformer/runtime";

/** A result larger than this (MessagePack) is not cached: a KV value is one message, and large results spill. */
export const MAX_CACHED_RESULT_BYTES = 256 * 1024;
/** How long a run holds its key when the tool names no timeout: identical calls wait for it that long at most. */
export const DEFAULT_CACHE_LEASE_MS = 60_000;

/** What the cache did, for the metrics (hits, misses, bytes): wired by the executor. */
export interface ResultCacheCounts {
  /** A call took a stored result (or the result of an identical call it waited for). */
  hit(tool: string, bytes: number): void;
  /** A call found nothing fresh and ran. */
  miss(tool: string): void;
  /** A run's result was stored. */
  stored(tool: string, bytes: number): void;
}

export const NO_CACHE_COUNTS: ResultCacheCounts = { hit() {}, miss() {}, stored() {} };

type CacheBucket = NonNullable<ActorContext["kv"]["resultCache"]>;

/** What a call found under its key: a fresh result, an identical call running, or the key to run under. */
export type CacheLookup = { kind: "hit"; result: unknown } | { kind: "wait"; leaseUntil: number } | { kind: "lead" };

/**
 * Pure: what a call does with the entry stored under its key at `now`. A stored result is used until it
 * expires; a run's lease is waited for until it lapses (its executor died); anything else is taken over.
 */
export function lookUpEntry(entry: CacheEntry | undefined, now: number): CacheLookup {
  if (entry?.state === "stored" && entry.expiresAt > now) return { kind: "hit", result: entry.result };
  if (entry?.state === "running" && entry.leaseUntil > now) return { kind: "wait", leaseUntil: entry.leaseUntil };
  return { kind: "lead" };
}

/** Whether a call may use the cache: its tool opted in and is read-only, and its request does not bypass it. */
export function isCacheable(
  call: ExecCall,
  tool: ToolDefinition | undefined,
): tool is ToolDefinition & {
  cache: NonNullable<ToolDefinition["cache"]>;
} {
  return tool?.cache !== undefined && tool.readOnly && call.cache !== false;
}

/**
 * The result cache of read-only tools in KV (`tf_result_cache`, docs/adr/0025), with single flight
 * across the cluster: the first call of a key takes it as a lease by compare-and-set (`KvCasStore`,
 * which stays correct on clustered 2.9 servers) and runs; identical calls meanwhile watch the key and
 * take its result. A run that fails, or whose result is too large to keep, deletes the key so a waiting
 * call runs in its place; one whose executor died lets its lease lapse.
 */
export class ResultCache {
  readonly #kv: CacheBucket;
  readonly #cas: KvCasStore;
  readonly #executorId: string;
  readonly #counts: ResultCacheCounts;
  readonly #log: Logger;

  private constructor(kv: CacheBucket, cas: KvCasStore, executorId: string, counts: ResultCacheCounts, log: Logger) {
    this.#kv = kv;
    this.#cas = cas;
    this.#executorId = executorId;
    this.#counts = counts;
    this.#log = log;
  }

  static async open(
    ctx: Pick<ActorContext, "nc" | "js" | "jsm" | "kv" | "actorId" | "log">,
    counts: ResultCacheCounts = NO_CACHE_COUNTS,
  ): Promise<ResultCache> {
    const kv = ctx.kv.resultCache;
    if (!kv) throw new Error("the result cache bucket is not bound");
    return new ResultCache(kv, await KvCasStore.open(ctx, kv), ctx.actorId, counts, ctx.log);
  }

  /**
   * The call's result: from the cache, from an identical call's run it waited for, or from `run` (whose
   * result is then stored). `cached` says it did not run. Calls that may not use the cache just run.
   */
  async through(
    call: ExecCall,
    tool: ToolDefinition | undefined,
    run: () => Promise<unknown>,
    signal: AbortSignal,
  ): Promise<{ value: unknown; cached: boolean }> {
    if (!isCacheable(call, tool)) return { value: await run(), cached: false };
    const key = resultCacheKey(tool.name, tool.cache.version, call.args);
    const retry = { giveUpAt: retryUntil(call.deadline) };
    const leaseMs = Math.max(
      1,
      Math.min(tool.timeoutMs ?? call.timeoutMs ?? DEFAULT_CACHE_LEASE_MS, call.deadline - Date.now()),
    );
    for (;;) {
      signal.throwIfAborted();
      const now = Date.now();
      const lease: CacheEntry = { state: "running", executorId: this.#executorId, leaseUntil: now + leaseMs };
      const found = await this.#cas.update<unknown, CacheLookup>(
        key,
        undefined,
        (stored) => {
          const lookup = lookUpEntry(parsed(stored), now);
          return lookup.kind === "lead" ? { next: lease, result: lookup } : { result: lookup };
        },
        { readFirst: true, retry },
      );
      if (found.kind === "hit") {
        this.#counts.hit(tool.name, encodeInternal(found.result).byteLength);
        return { value: found.result, cached: true };
      }
      if (found.kind === "lead") return { value: await this.#runAndStore(key, tool, run), cached: false };
      const shared = await this.#waitFor(key, found.leaseUntil, signal);
      if (shared.found) {
        this.#counts.hit(tool.name, encodeInternal(shared.result).byteLength);
        return { value: shared.result, cached: true };
      }
    }
  }

  async #runAndStore(key: string, tool: ToolDefinition & { cache: { ttlMs: number } }, run: () => Promise<unknown>) {
    this.#counts.miss(tool.name);
    let value: unknown;
    try {
      value = await run();
    } catch (error) {
      await this.#release(key);
      throw error;
    }
    const storedAt = Date.now();
    const entry: CacheEntry = {
      state: "stored",
      result: value ?? null,
      storedAt,
      expiresAt: storedAt + tool.cache.ttlMs,
    };
    const data = encodeInternal(entry);
    if (data.byteLength > MAX_CACHED_RESULT_BYTES) {
      await this.#release(key);
      return value;
    }
    try {
      await this.#kv.put(key, data);
      this.#counts.stored(tool.name, data.byteLength);
    } catch (error) {
      // The call has its result either way; identical calls run once the lease lapses.
      this.#log.warn({ err: error, tool: tool.name }, "could not store a result in the cache");
    }
    return value;
  }

  /** Lets identical calls that wait run in this one's place (it failed, or its result is not kept). */
  async #release(key: string): Promise<void> {
    await this.#kv
      .delete(key)
      .catch((error: unknown) => this.#log.warn({ err: error }, "could not release a cache key"));
  }

  /** Watches the key until a result is stored (found), or the run gave up or its lease lapsed (look again). */
  async #waitFor(
    key: string,
    leaseUntil: number,
    signal: AbortSignal,
  ): Promise<{ found: true; result: unknown } | { found: false }> {
    const watch = await this.#kv.watch({ key });
    const stop = () => watch.stop();
    const lapse = setTimeout(stop, Math.max(0, leaseUntil - Date.now()));
    signal.addEventListener("abort", stop, { once: true });
    try {
      for await (const entry of watch) {
        if (entry.operation !== "PUT") return { found: false };
        const decoded = decodeValidated(entry.value, undefined, CacheEntrySchema, "msgpack");
        if (decoded.ok && decoded.value.state === "stored" && decoded.value.expiresAt > Date.now())
          return { found: true, result: decoded.value.result };
      }
      return { found: false };
    } finally {
      clearTimeout(lapse);
      signal.removeEventListener("abort", stop);
      watch.stop();
    }
  }
}

function parsed(stored: unknown): CacheEntry | undefined {
  if (stored === undefined) return undefined;
  const entry = CacheEntrySchema.safeParse(stored);
  return entry.success ? entry.data : undefined;
}
