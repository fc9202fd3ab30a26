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
import { untilStored } from "@toolformer/runtime";
import { MIN_RETRY_WINDOW_MS, type RetryOptions } from "@toolformer/runtime";

/** Retries of a caller that names no deadline: a leader election takes seconds. */
const defaultRetry = (): RetryOptions => ({ giveUpAt: Date.now() + MIN_RETRY_WINDOW_MS });

/**
 * Keeps a result (JSON bytes) too large to travel inline; the reference travels instead. Tried again
 * while the store has no leader: a put under the same name replaces the object, so a try that stored it
 * before timing out does no harm.
 */
export async function spillResult(
  store: ObjectStore,
  requestId: string,
  callId: string,
  json: Uint8Array,
  retry: RetryOptions = defaultRetry(),
): Promise<ResultRef> {
  const name = `${subjectToken(requestId)}.${callId}`;
  await untilStored(() => store.putBlob({ name }, json), retry);
  return { bucket: OBJECT_STORES.results, name, bytes: json.byteLength };
}

/**
 * The first `maxBytes` of a spilled result's JSON, read as a stream so that only that much is held
 * (what a model's context can take of a 20 MB result); undefined when it has expired. Read again while
 * the store has no leader.
 */
export function readResultPrefix(
  store: ObjectStore,
  ref: ResultRef,
  maxBytes: number,
  retry: RetryOptions = defaultRetry(),
): Promise<string | undefined> {
  return untilStored(() => readPrefixOnce(store, ref, maxBytes), retry);
}

async function readPrefixOnce(store: ObjectStore, ref: ResultRef, maxBytes: number): Promise<string | undefined> {
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
  retry?: RetryOptions,
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
    fitted[index] = { ...rest, resultRef: await spillResult(store, requestId, rest.id, json, retry) };
    excess -= json.byteLength;
  }
  return fitted;
}
