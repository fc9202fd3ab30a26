/** How long a tool that said "too many" without saying for how long is left alone. */
export const DEFAULT_TOOL_RETRY_AFTER_MS = 1_000;
/** A tool cannot block itself for longer than this (a wrong header must not stop a tool for a day). */
export const MAX_TOOL_RETRY_AFTER_MS = 10 * 60_000;

/**
 * A tool answered "rate limited, retry after X" (a remote tool's service error 429, an MCP error with
 * code 429 or a `retryAfter` in its data): the call did not run. The executor blocks the tool's scope
 * cluster-wide for that long, as a model's 429 blocks its scope (docs/protocol.md#tool-side-rate-limits).
 */
export class ToolRateLimitedError extends Error {
  readonly retryAfterMs: number;

  constructor(message: string, retryAfterMs: number | undefined) {
    super(message);
    this.name = "ToolRateLimitedError";
    this.retryAfterMs = boundedRetryAfter(retryAfterMs);
  }
}

/** `Retry-After` in seconds (fractions allowed, as a tool may be more precise than HTTP); undefined if unreadable. */
export function retryAfterSecondsMs(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.round(seconds * 1_000) : undefined;
}

function boundedRetryAfter(ms: number | undefined): number {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return DEFAULT_TOOL_RETRY_AFTER_MS;
  return Math.min(ms, MAX_TOOL_RETRY_AFTER_MS);
}
