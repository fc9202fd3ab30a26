import type { OrchestrateRequest } from "./messages/request.ts";

/**
 * Caps on what a client may send to `orchestrate.request`, in UTF-8 bytes. An accepted request is
 * queued as one message, so together they keep it well inside the server's default `max_payload`
 * (1 MiB): prompt or messages (never both) plus the system prompt stay under 600 KiB.
 */
export const REQUEST_LIMITS = {
  /** The whole body as received, after inflating a gzip-compressed one. */
  maxBodyBytes: 1024 * 1024,
  maxPromptBytes: 512 * 1024,
  maxSystemBytes: 64 * 1024,
  /** The `content` of every message together. */
  maxMessagesBytes: 512 * 1024,
  maxMessages: 1024,
} as const;

/** One part of a request over its cap: the field, the cap and what was sent, in the cap's unit. */
export interface OversizedPart {
  path: string;
  limit: number;
  actual: number;
  unit: "bytes" | "messages";
}

/** Pure: the parts of a validated request that are over their caps (empty when it fits). */
export function oversizedParts(request: Pick<OrchestrateRequest, "prompt" | "system" | "messages">): OversizedPart[] {
  const parts: OversizedPart[] = [];
  const check = (path: string, actual: number, limit: number, unit: OversizedPart["unit"] = "bytes") => {
    if (actual > limit) parts.push({ path, limit, actual, unit });
  };
  if (request.prompt !== undefined) check("prompt", utf8Bytes(request.prompt), REQUEST_LIMITS.maxPromptBytes);
  if (request.system !== undefined) check("system", utf8Bytes(request.system), REQUEST_LIMITS.maxSystemBytes);
  if (request.messages !== undefined) {
    check("messages", request.messages.length, REQUEST_LIMITS.maxMessages, "messages");
    const contentBytes = request.messages.reduce((sum, message) => sum + utf8Bytes(message.content), 0);
    check("messages", contentBytes, REQUEST_LIMITS.maxMessagesBytes);
  }
  return parts;
}

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, "utf8");
}
