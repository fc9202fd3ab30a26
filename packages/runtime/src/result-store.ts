import type { ObjectStore } from "@nats-io/obj";
import {
  ContentType,
  encode,
  OBJECT_STORES,
  subjectToken,
  type ResultRef,
  type ToolCallRecord,
} from "@toolformer/protocol";

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

/**
 * Records that fit in `excessBytes` less than they take now: the largest inline results go to the
 * object store (as the executor does for one large result) until the excess is gone. Many results,
 * each small enough to travel alone, can still add up to more than one message may carry.
 */
export async function spillUntilFits(
  store: ObjectStore,
  requestId: string,
  records: ToolCallRecord[],
  excessBytes: number,
): Promise<ToolCallRecord[]> {
  const fitted = [...records];
  const largestFirst = fitted
    .map((record, index) => ({
      index,
      json: record.result === undefined ? undefined : encode(record.result, ContentType.json),
    }))
    .filter((entry): entry is { index: number; json: Uint8Array } => entry.json !== undefined)
    .sort((a, b) => b.json.byteLength - a.json.byteLength);
  let excess = excessBytes;
  for (const { index, json } of largestFirst) {
    if (excess <= 0) break;
    const { result: _moved, ...rest } = fitted[index]!;
    fitted[index] = { ...rest, resultRef: await spillResult(store, requestId, rest.id, json) };
    excess -= json.byteLength;
  }
  return fitted;
}
