import type { KV } from "@nats-io/kv";
import { RequestRecordSchema, type RequestRecord } from "@toolformer/protocol";
import { decodeValidated, untilStored, type RetryOptions } from "@toolformer/runtime";

/** A request's idempotency record from its stored bytes; undefined when they do not decode. */
export function decodeRecord(value: Uint8Array): RequestRecord | undefined {
  const decoded = decodeValidated(value, undefined, RequestRecordSchema, "msgpack");
  return decoded.ok ? decoded.value : undefined;
}

/** A request's record (undefined while none is stored), read again while the bucket has no leader. */
export async function readRecord(requests: KV, key: string, retry: RetryOptions): Promise<RequestRecord | undefined> {
  const entry = await untilStored(() => requests.get(key), retry);
  return entry?.operation === "PUT" ? decodeRecord(entry.value) : undefined;
}
