import type { ObjectStore } from "@nats-io/obj";
import { ContentType, encode, ErrorCode, type ExecCall, type ToolCallRecord } from "@toolformer/protocol";
import { type RetryOptions } from "@toolformer/runtime";
import { spillResult } from "@toolformer/result-store";

/** Results above this (JSON bytes) travel as a reference to the object store. */
export const DEFAULT_SPILL_BYTES = 256 * 1024;
/** Results above this fail the call with PAYLOAD_TOO_LARGE. */
export const DEFAULT_RESULT_MAX_BYTES = 64 * 1024 * 1024;

/**
 * How a result travels: inline up to `spillBytes` (JSON); up to `maxBytes` it goes to the results
 * object store and the record carries a reference; beyond that the call fails with PAYLOAD_TOO_LARGE.
 */
export async function carried(
  record: ToolCallRecord,
  call: ExecCall,
  limits: { spillBytes: number; maxBytes: number; store: ObjectStore | undefined; retry?: RetryOptions },
): Promise<ToolCallRecord> {
  if (record.result === undefined) return record;
  const json = encode(record.result, ContentType.json);
  if (json.byteLength <= limits.spillBytes) return record;
  const { result: _moved, ...rest } = record;
  if (json.byteLength > limits.maxBytes || !limits.store) {
    return {
      ...rest,
      status: "failed",
      error: {
        code: ErrorCode.PAYLOAD_TOO_LARGE,
        message: `the result is ${json.byteLength} bytes; at most ${limits.store ? limits.maxBytes : limits.spillBytes} can be carried`,
      },
    };
  }
  return { ...rest, resultRef: await spillResult(limits.store, call.requestId, call.callId, json, limits.retry) };
}
