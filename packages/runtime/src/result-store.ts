import type { ObjectStore } from "@nats-io/obj";
import { OBJECT_STORES, subjectToken, type ResultRef } from "@toolformer/protocol";

/** Keeps a result (JSON bytes) too large to travel inline; the reference travels instead. */
export async function spillResult(
  store: ObjectStore,
  requestId: string,
  callId: string,
  json: Uint8Array,
): Promise<ResultRef> {
  const name = `${subjectToken(requestId)}.${callId}`;
  await store.putBlob({ name }, json);
  return { bucket: OBJECT_STORES.results, name, bytes: json.byteLength };
}

/**
 * The first `maxBytes` of a spilled result's JSON, read as a stream so that only that much is held
 * (what a model's context can take of a 20 MB result); undefined when it has expired.
 */
export async function readResultPrefix(
  store: ObjectStore,
  ref: ResultRef,
  maxBytes: number,
): Promise<string | undefined> {
  const object = await store.get(ref.name);
  if (!object) return undefined;
  const chunks: Uint8Array[] = [];
  let held = 0;
  const reader = object.data.getReader();
  while (held < maxBytes) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    held += value.byteLength;
  }
  await reader.cancel();
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, maxBytes));
}
