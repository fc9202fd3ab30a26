import { Packr } from "msgpackr";

/**
 * JSON at the edge, MessagePack between actors. The `Content-Type` header selects; a reply uses the
 * encoding of its request.
 */
export const ContentType = {
  json: "application/json",
  msgpack: "application/msgpack",
} as const;
export type ContentType = (typeof ContentType)[keyof typeof ContentType];

// Plain maps only: records/structured clones would make payloads unreadable to non-JS peers.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** The encoding a header value asks for; anything unrecognised (or absent) means JSON. */
export function contentTypeOf(headerValue: string | undefined | null): ContentType {
  const value = headerValue?.split(";")[0]?.trim().toLowerCase();
  return value === ContentType.msgpack || value === "application/x-msgpack" ? ContentType.msgpack : ContentType.json;
}

export function encode(value: unknown, type: ContentType): Uint8Array {
  return type === ContentType.msgpack ? packr.pack(value) : textEncoder.encode(JSON.stringify(value));
}

/** Throws a `SyntaxError`-like error on bytes that are not valid in the chosen encoding. */
export function decode(bytes: Uint8Array, type: ContentType): unknown {
  if (type === ContentType.msgpack) return packr.unpack(bytes);
  return JSON.parse(textDecoder.decode(bytes)) as unknown;
}
