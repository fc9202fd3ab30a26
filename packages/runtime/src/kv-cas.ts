import type { KV } from "@nats-io/kv";
import { ContentType, decode } from "@toolformer/protocol";
import { encodeInternal } from "./wire.ts";

const MAX_CAS_ATTEMPTS = 50;

/** KV operations of a CAS update, counted for a metric: `conflict` is a write another writer beat. */
export type CasOperation = "get" | "write" | "conflict";

export interface CasOptions<T> {
  /**
   * The last value and revision this process wrote or read per key. An update first tries from it, with
   * no read; a stale entry only costs a conflict and a read. Worth it where one process writes a key
   * more often than others do.
   */
  known?: Map<string, { revision: number; value: T }>;
  count?(operation: CasOperation): void;
}

/**
 * Read-modify-write of one KV key by compare-and-set on its revision (values are MessagePack). When
 * another writer wins the race, the value is read again and `change` decides again, so no update is
 * lost. `change` returns no `next` to leave the key as it is.
 */
export async function updateWithCas<T, R>(
  kv: KV,
  key: string,
  empty: T,
  change: (current: T) => { next?: T; result: R },
  options: CasOptions<T> = {},
): Promise<R> {
  let known = options.known?.get(key);
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const current = known ?? (await read(kv, key, empty, options));
    known = undefined;
    const { next, result } = change(current.value);
    if (next === undefined) return result;
    try {
      const encoded = encodeInternal(next);
      options.count?.("write");
      const revision =
        current.revision > 0 ? await kv.update(key, encoded, current.revision) : await kv.create(key, encoded);
      options.known?.set(key, { revision, value: next });
      return result;
    } catch (error) {
      if (!/wrong last sequence|key exists/i.test(String(error))) {
        options.known?.delete(key); // the write's fate is unknown: the next update reads first
        throw error;
      }
      options.count?.("conflict");
    }
  }
  throw new Error(`gave up on key ${key} after ${MAX_CAS_ATTEMPTS} conflicting updates`);
}

async function read<T>(kv: KV, key: string, empty: T, options: CasOptions<T>): Promise<{ revision: number; value: T }> {
  options.count?.("get");
  const entry = await kv.get(key);
  const live = entry !== null && entry.operation === "PUT" && entry.value.length > 0;
  if (!live) return { revision: entry?.revision ?? 0, value: empty };
  const value = decode(entry.value, ContentType.msgpack) as T;
  options.known?.set(key, { revision: entry.revision, value });
  return { revision: entry.revision, value };
}
