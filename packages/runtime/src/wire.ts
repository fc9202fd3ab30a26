import { headers, type MsgHdrs } from "@nats-io/transport-node";
import { ContentType, contentTypeOf, decode, encode, ErrorCode, Header, type ErrorBody } from "@toolformer/protocol";
import { gunzipSync, gzipSync } from "node:zlib";
import { z } from "zod";
import { traceCarrier } from "./trace-context.ts";

/** On a validation failure `raw` holds the decoded body, so a reply can still name e.g. the client's id. */
export type Decoded<T> = { ok: true; value: T; raw: unknown } | { ok: false; error: ErrorBody; raw?: unknown };

/**
 * Decodes a message body in the encoding its `Content-Type` names and validates it. Never throws: bad
 * bytes and bad shapes both come back as an INVALID_REQUEST error body naming what is wrong.
 */
export function decodeValidated<S extends z.ZodType>(
  data: Uint8Array,
  msgHeaders: MsgHdrs | undefined,
  schema: S,
  /** The encoding when there are no headers to say it (KV values are MessagePack). */
  defaultEncoding: "json" | "msgpack" = "json",
): Decoded<z.output<S>> {
  const header = msgHeaders?.get(Header.contentType);
  const type = header ? contentTypeOf(header) : ContentType[defaultEncoding];
  let raw: unknown;
  try {
    const gzipped = msgHeaders?.get(Header.contentEncoding) === "gzip";
    raw = decode(gzipped ? gunzipSync(data, { maxOutputLength: MAX_INFLATED_BYTES }) : data, type);
  } catch (error) {
    const what = type === ContentType.json ? "JSON" : "MessagePack";
    return {
      ok: false,
      error: { code: ErrorCode.INVALID_REQUEST, message: `body is not valid ${what}: ${String(error)}` },
    };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      raw,
      error: {
        code: ErrorCode.INVALID_REQUEST,
        message: z.prettifyError(parsed.error),
        details: parsed.error.issues.map((issue) => ({ path: issue.path.map(String), message: issue.message })),
      },
    };
  }
  return { ok: true, value: parsed.data, raw };
}

/** Headers for a message between actors: MessagePack body plus the correlation the envelope carries. */
export function internalHeaders(envelope: {
  requestId: string;
  traceparent: string;
  deadline: number;
  callId?: string;
}): MsgHdrs {
  const h = headers();
  h.set(Header.contentType, ContentType.msgpack);
  h.set(Header.requestId, envelope.requestId);
  const { traceparent, tracestate } = traceCarrier(envelope.traceparent);
  h.set(Header.traceparent, traceparent);
  if (tracestate) h.set(Header.tracestate, tracestate);
  h.set(Header.deadline, String(envelope.deadline));
  if (envelope.callId) h.set(Header.callId, envelope.callId);
  return h;
}

export function encodeInternal(value: unknown): Uint8Array {
  return encode(value, ContentType.msgpack);
}

/** Internal bodies larger than this travel gzip-compressed (results of a few hundred KB shrink a lot). */
export const COMPRESS_ABOVE_BYTES = 16 * 1024;
/** A compressed body may not inflate beyond this: a hostile or broken message is refused, not swallowed. */
const MAX_INFLATED_BYTES = 64 * 1024 * 1024;

/** An internal message's body and headers, compressed when it is large; `decodeValidated` undoes it. */
export function packInternal(
  value: unknown,
  envelope: Parameters<typeof internalHeaders>[0],
): { data: Uint8Array; headers: MsgHdrs } {
  const data = encodeInternal(value);
  const h = internalHeaders(envelope);
  if (data.byteLength <= COMPRESS_ABOVE_BYTES) return { data, headers: h };
  h.set(Header.contentEncoding, "gzip");
  return { data: gzipSync(data), headers: h };
}

export function contentTypeHeaders(type: ContentType): MsgHdrs {
  const h = headers();
  h.set(Header.contentType, type);
  return h;
}

/** A header value must be one line: multi-line messages (zod's) are folded, and long ones cut. */
export function headerSafe(text: string, maxChars = 512): string {
  return text.replace(/[\r\n]+\s*/g, "; ").slice(0, maxChars);
}
