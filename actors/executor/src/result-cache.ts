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
/**
 * How long a call holds its key when the tool names no timeout, from its look-up and again from its
 * run's start: identical calls wait for it that long at most before one of them takes the key over.
 */
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
 * Pure: what the call `holder` does with the entry stored under its key at `now`. A stored result is
 * used until it expires; another call's lease is waited for until it lapses (its executor died); the
 * call's own lease, and anything else, is taken (over).
 */
export function lookUpEntry(entry: CacheEntry | undefined, now: number, holder: string): CacheLookup {
  if (entry?.state === "stored" && entry.expiresAt > now) return { kind: "hit", result: entry.result };
  if (entry?.state === "running" && entry.leaseUntil > now && entry.holder !== holder)
    return { kind: "wait", leaseUntil: entry.leaseUntil };
  return { kind: "lead" };
}

/** What the result cache needs of a tool: whether it is read-only and its cache policy. */
export type CachePolicyOf = Pick<ToolDefinition, "name" | "readOnly" | "cache" | "timeoutMs">;
type CacheableTool = CachePolicyOf & { cache: NonNullable<ToolDefinition["cache"]> };

/** Whether a call may use the cache: its tool opted in and is read-only, and its request does not bypass it. */
export function isCacheable(
  call: Pick<ExecCall, "cache">,
  tool: Partial<CachePolicyOf> | undefined,
): tool is CacheableTool {
  return tool?.cache !== undefined && tool.readOnly === true && call.cache !== false;
}

/** A call's look-up before its permit: a result to take, or the key is now its lease and it runs. */
export type CacheClaim = { kind: "hit"; value: unknown } | { kind: "lead" };

/**
 * The result cache of read-only tools in KV (`tf_result_cache`, docs/adr/0025), with single flight
 * across the cluster: the first call of a key takes it as a lease by compare-and-set (`KvCasStore`,
 * which stays correct on clustered 2.9 servers) and runs; identical calls meanwhile watch the key and
 * take its result. A call looks up its key before it asks for its permit (`claim`), so a hit, and a
 * call that waits for an identical call's run, take no permit; the call that leads keeps its lease
 * while it waits for its permit, and renews it when it runs (`through`). A run that fails, or whose
 * result is too large to keep, and a leader that will not run, delete the key so a waiting call runs
 * in its place; one whose executor died lets its lease lapse.
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
   * Before the call's permit: a fresh result, or the result of an identical call's run it waited for
   * (`hit`); else the key is the call's lease and it runs (`lead`). A call that may not use the cache
   * just runs. Aborted by `signal` (cancel, deadline, this copy stopping), it holds no lease.
   */
  async claim(call: ExecCall, tool: CachePolicyOf | undefined, signal: AbortSignal): Promise<CacheClaim> {
    if (!isCacheable(call, tool)) return { kind: "lead" };
    return this.#claim(call, tool, signal);
  }

  /**
   * The call's result: from the cache, from an identical call's run it waited for, or from `run` (whose
   * result is then stored). `cached` says it did not run. A call that claimed its key keeps it here.
   * Calls that may not use the cache just run.
   */
  async through(
    call: ExecCall,
    tool: CachePolicyOf | undefined,
    run: () => Promise<unknown>,
    signal: AbortSignal,
  ): Promise<{ value: unknown; cached: boolean }> {
    if (!isCacheable(call, tool)) return { value: await run(), cached: false };
    const claimed = await this.#claim(call, tool, signal);
    if (claimed.kind === "hit") return { value: claimed.value, cached: true };
    return { value: await this.#runAndStore(this.#keyOf(call, tool), tool, run), cached: false };
  }

  /** The call claimed its key and will not run (cancelled, timed out, handed back): identical calls run instead. */
  async release(call: ExecCall, tool: CachePolicyOf | undefined): Promise<void> {
    // A plain delete: were the lease lapsed and taken over meanwhile, the taker's waiters would look
    // again and one of them run too, which a read-only tool allows.
    if (isCacheable(call, tool)) await this.#release(this.#keyOf(call, tool));
  }

  #keyOf(call: ExecCall, tool: CacheableTool): string {
    return resultCacheKey(tool.name, tool.cache.version, call.args);
  }

  async #claim(call: ExecCall, tool: CacheableTool, signal: AbortSignal): Promise<CacheClaim> {
    const key = this.#keyOf(call, tool);
    const holder = `${this.#executorId}/${call.requestId}/${call.callId}`;
    const retry = { giveUpAt: retryUntil(call.deadline) };
    const leaseMs = Math.max(
      1,
      Math.min(tool.timeoutMs ?? call.timeoutMs ?? DEFAULT_CACHE_LEASE_MS, call.deadline - Date.now()),
    );
    for (;;) {
      signal.throwIfAborted();
      const now = Date.now();
      const lease: CacheEntry = {
        state: "running",
        executorId: this.#executorId,
        holder,
        leaseUntil: now + leaseMs,
      };
      const found = await this.#cas.update<unknown, CacheLookup>(
        key,
        undefined,
        (stored) => {
          const lookup = lookUpEntry(parsed(stored), now, holder);
          return lookup.kind === "lead" ? { next: lease, result: lookup } : { result: lookup };
        },
        { readFirst: true, retry },
      );
      if (found.kind === "hit") return this.#hit(tool, found.result);
      if (found.kind === "lead") return { kind: "lead" };
      const shared = await this.#waitFor(key, found.leaseUntil, holder, signal);
      if (shared.found) return this.#hit(tool, shared.result);
    }
  }

  #hit(tool: CacheableTool, value: unknown): CacheClaim {
    this.#counts.hit(tool.name, encodeInternal(value).byteLength);
    return { kind: "hit", value };
  }

  async #runAndStore(key: string, tool: CacheableTool, run: () => Promise<unknown>) {
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

  /**
   * Watches the key until a result is stored (found), or the key is deleted (its run failed, or its
   * holder will not run) or its lease lapses (look again). A lease its holder renewed is waited for
   * again by the next look.
   */
  async #waitFor(
    key: string,
    leaseUntil: number,
    holder: string,
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
        const lookup = lookUpEntry(decoded.ok ? decoded.value : undefined, Date.now(), holder);
        if (lookup.kind === "hit") return { found: true, result: lookup.result };
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
