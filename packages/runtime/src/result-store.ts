import type { ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
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

/** NATS's default `max_payload`, for a connection that has not said its own. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/** Room kept in every message for its headers and envelope. */
const MESSAGE_HEADROOM_BYTES = 16 * 1024;

/** The most one message may carry on this connection, less the room for headers and envelope. */
export function messageBudget(nc: NatsConnection): number {
  return (nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD) - MESSAGE_HEADROOM_BYTES;
}

/**
 * The records of a message that takes `messageBytes`, changed so that it fits `budget`: the largest
 * inline results go to the object store (as the executor does for one large result) until it fits.
 * Many results, each small enough to travel alone, can still add up to more than one message carries.
 */
export async function fitInOneMessage(
  store: ObjectStore | undefined,
  requestId: string,
  records: ToolCallRecord[],
  messageBytes: number,
  budget: number,
): Promise<ToolCallRecord[]> {
  if (messageBytes <= budget || !store) return records;
  const fitted = [...records];
  const largestFirst = fitted
    .map((record, index) => ({
      index,
      json: record.result === undefined ? undefined : encode(record.result, ContentType.json),
    }))
    .filter((entry): entry is { index: number; json: Uint8Array } => entry.json !== undefined)
    .sort((a, b) => b.json.byteLength - a.json.byteLength);
  let excess = messageBytes - budget;
  for (const { index, json } of largestFirst) {
    if (excess <= 0) break;
    const { result: _moved, ...rest } = fitted[index]!;
    fitted[index] = { ...rest, resultRef: await spillResult(store, requestId, rest.id, json) };
    excess -= json.byteLength;
  }
  return fitted;
}
