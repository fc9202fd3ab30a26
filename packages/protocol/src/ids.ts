import { randomBytes } from "node:crypto";

/** Client-chosen request ids: the contract's pattern. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
/** Tool names must be a single subject token and a valid function name for every provider. */
export const TOOL_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Call ids travel as one subject token. */
export const CALL_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const PLAIN_TOKEN = /^[A-Za-z0-9_-]+$/;

/**
 * A tenant named by the credentials (its NATS account): one subject token, so the server can put it in
 * a subject (docs/adr/0017-tenants-are-accounts.md).
 */
export const TENANT_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Marks a request id as a tenant's: `@` cannot begin a client's id, so no client id collides with one. */
const TENANT_ID_MARK = "@";

/**
 * The request id the orchestrator uses for tenant `tenant`'s request `id`: `@<tenant>.<id>`. Two
 * tenants' same id are two requests (idempotency, records and events are per tenant), and the id's first
 * token names the tenant, so its events and cancels have subjects a server can export to that tenant alone.
 */
export function tenantRequestId(tenant: string, id: string): string {
  return `${TENANT_ID_MARK}${tenant}.${id}`;
}

/** The first token of every request id of `tenant` (`tenantRequestId`), for its subjects' wildcards. */
export function tenantIdToken(tenant: string): string {
  return `${TENANT_ID_MARK}${tenant}`;
}

/** The tenant whose request this is, when it came through a tenant account; undefined otherwise. */
export function tenantOfRequestId(requestId: string): string | undefined {
  if (!requestId.startsWith(TENANT_ID_MARK)) return undefined;
  const dot = requestId.indexOf(".");
  return dot > 1 ? requestId.slice(1, dot) : undefined;
}

/**
 * A request id as one subject token / KV key. Ids may contain dots (which split subject tokens),
 * so those are hex-encoded behind a `=` prefix, a character ids cannot contain: no two ids collide.
 */
export function subjectToken(id: string): string {
  if (PLAIN_TOKEN.test(id)) return id;
  return `=${Buffer.from(id, "utf8").toString("hex")}`;
}

/** A fresh request id; `kind` names what it is for a person reading it (`replay_…` for a replay). */
export function newRequestId(kind = "req"): string {
  return `${kind}_${Date.now().toString(36)}${randomBytes(6).toString("hex")}`;
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
