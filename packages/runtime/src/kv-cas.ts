import type { KV } from "@nats-io/kv";
import { ContentType, decode } from "@toolformer/protocol";
import { encodeInternal } from "./wire.ts";

const MAX_CAS_ATTEMPTS = 50;

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
): Promise<R> {
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const entry = await kv.get(key);
    const live = entry !== null && entry.operation === "PUT" && entry.value.length > 0;
    const current = live ? (decode(entry.value, ContentType.msgpack) as T) : empty;
    const { next, result } = change(current);
    if (next === undefined) return result;
    try {
      if (live) await kv.update(key, encodeInternal(next), entry.revision);
      else await kv.create(key, encodeInternal(next));
      return result;
    } catch (error) {
      if (!/wrong last sequence|key exists/i.test(String(error))) throw error;
    }
  }
  throw new Error(`gave up on key ${key} after ${MAX_CAS_ATTEMPTS} conflicting updates`);
}
