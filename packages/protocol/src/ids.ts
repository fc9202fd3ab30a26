import { randomBytes } from "node:crypto";

/** Client-chosen request ids: the contract's pattern. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
/** Tool names must be a single subject token and a valid function name for every provider. */
export const TOOL_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Call ids travel as one subject token. */
export const CALL_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const PLAIN_TOKEN = /^[A-Za-z0-9_-]+$/;

/**
 * A request id as one subject token / KV key. Ids may contain dots (which split subject tokens),
 * so those are hex-encoded behind a `=` prefix, a character ids cannot contain: no two ids collide.
 */
export function subjectToken(id: string): string {
  if (PLAIN_TOKEN.test(id)) return id;
  return `=${Buffer.from(id, "utf8").toString("hex")}`;
}

export function newRequestId(): string {
  return `req_${Date.now().toString(36)}${randomBytes(6).toString("hex")}`;
}

export function newTraceparent(): string {
  return `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`;
}

/**
 * A stable 32-bit hash of a string, the same in every actor (for sharing out work by key): FNV-1a, then
 * murmur3's finalizer so that keys differing only in their last character still land far apart.
 */
export function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
