import type { MsgHdrs } from "@nats-io/transport-node";
import { setImmediate as afterIo } from "node:timers/promises";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import {
  contentTypeOf,
  ErrorCode,
  Header,
  OrchestrateRequestSchema,
  oversizedParts,
  REQUEST_LIMITS,
  type ErrorBody,
  type OrchestrateRequest,
} from "@toolformer/protocol";
import { contentTypeHeaders, decodeValidated } from "@toolformer/runtime";
import { readableId } from "./reply.ts";
import { AskedOptionsSchema, type AskedOptions } from "./tenancy.ts";

const gunzipAsync = promisify(gunzip);

/** Node's error when inflating passes `maxOutputLength`. */
const BUFFER_TOO_LARGE = "ERR_BUFFER_TOO_LARGE";

/**
 * Bodies larger than this (or compressed) cost milliseconds to read, so they take turns (`RequestReader`).
 * Ordinary requests are a few KiB.
 */
export const HEAVY_BODY_BYTES = 64 * 1024;

/** A request read at the edge, with the options its body set itself (`asked`). */
export type ReadRequest =
  { ok: true; request: OrchestrateRequest; asked: AskedOptions } | { ok: false; error: ErrorBody; id?: string };

/**
 * Reads requests at the public edge: the body within its cap, then the schema, then the caps of
 * prompt, system and messages. Heavy bodies (compressed, or over HEAVY_BODY_BYTES) are read one at a
 * time, each after the event loop has had a turn at its I/O: a flood of them queues behind itself
 * instead of in front of every other client's request and of the requests this dispatcher runs.
 */
export class RequestReader {
  #heavyTurn: Promise<unknown> = Promise.resolve();

  read(data: Uint8Array, msgHeaders: MsgHdrs | undefined): Promise<ReadRequest> {
    const contentEncoding = msgHeaders?.get(Header.contentEncoding);
    const read = () =>
      readRequest(data, contentEncoding, contentTypeHeaders(contentTypeOf(msgHeaders?.get(Header.contentType))));
    if (contentEncoding !== "gzip" && data.byteLength <= HEAVY_BODY_BYTES) return read();
    const turn = this.#heavyTurn.then(() => afterIo()).then(read);
    this.#heavyTurn = turn.catch(() => undefined);
    return turn;
  }
}

async function readRequest(
  data: Uint8Array,
  contentEncoding: string | undefined,
  typeHeaders: MsgHdrs,
): Promise<ReadRequest> {
  const body = await boundedBody(data, contentEncoding);
  if (!body.ok) return body;
  const decoded = decodeValidated(body.data, typeHeaders, OrchestrateRequestSchema);
  if (!decoded.ok) {
    const id = readableId(decoded.raw);
    return { ok: false, error: decoded.error, ...(id === undefined ? {} : { id }) };
  }
  const oversized = oversizedRequestError(decoded.value);
  if (oversized) {
    const { id } = decoded.value;
    return { ok: false, error: oversized, ...(id === undefined ? {} : { id }) };
  }
  return { ok: true, request: decoded.value, asked: AskedOptionsSchema.parse(decoded.raw).options ?? {} };
}

/**
 * A request's body as received, bounded by `maxBodyBytes`. A gzip-compressed one
 * (`Content-Encoding: gzip`) is inflated by zlib on libuv's thread pool, never on the event loop, and
 * zlib stops as soon as the output passes the cap: a small bomb costs at most the cap (docs/adr/0015).
 */
export async function boundedBody(
  data: Uint8Array,
  contentEncoding: string | undefined,
  maxBodyBytes: number = REQUEST_LIMITS.maxBodyBytes,
): Promise<{ ok: true; data: Uint8Array } | { ok: false; error: ErrorBody }> {
  const tooLarge = (what: string): { ok: false; error: ErrorBody } => ({
    ok: false,
    error: {
      code: ErrorCode.REQUEST_TOO_LARGE,
      message: `the request body ${what} is over its cap of ${maxBodyBytes} bytes`,
      details: { limit: maxBodyBytes },
    },
  });
  if (data.byteLength > maxBodyBytes) return tooLarge(`(${data.byteLength} bytes)`);
  if (contentEncoding !== "gzip") return { ok: true, data };
  try {
    // One output chunk for the whole cap: the thread pool hands back once, not every 16 KiB.
    return { ok: true, data: await gunzipAsync(data, { maxOutputLength: maxBodyBytes, chunkSize: maxBodyBytes }) };
  } catch (error) {
    if ((error as { code?: unknown }).code === BUFFER_TOO_LARGE) return tooLarge("once inflated");
    return {
      ok: false,
      error: { code: ErrorCode.INVALID_REQUEST, message: `the body is not valid gzip: ${String(error)}` },
    };
  }
}

/** Pure: REQUEST_TOO_LARGE naming every part of a valid request over its cap, or undefined when it fits. */
export function oversizedRequestError(
  request: Pick<OrchestrateRequest, "prompt" | "system" | "messages">,
): ErrorBody | undefined {
  const parts = oversizedParts(request);
  if (parts.length === 0) return undefined;
  const message = parts.map((part) => `${part.path} has ${part.actual} ${part.unit}, over its cap of ${part.limit}`);
  return { code: ErrorCode.REQUEST_TOO_LARGE, message: message.join("; "), details: { oversized: parts } };
}
