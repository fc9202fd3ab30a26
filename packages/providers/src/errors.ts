import { ErrorCode, RetryableError, TerminalError, ToolformerError } from "@toolformer/protocol";

/** A 429 without a retry-after header waits this long. */
const DEFAULT_RATE_LIMIT_WAIT_MS = 1_000;
/** No advice from the provider: the caller's backoff decides (5xx, broken connections and streams). */
export const STREAM_RETRY_AFTER_MS = 0;

/** What an SDK error looks like, whichever SDK threw it. */
interface SdkError {
  status?: number | undefined;
  headers?: Headers | undefined;
  message: string;
}

/**
 * An SDK's error as ours: 429 and 5xx and connection failures are retryable (with the provider's
 * retry-after when it gives one); other 4xx fail the request at once. The provider's message is kept;
 * API keys never appear in SDK error messages, and are scrubbed here in case a proxy echoes one.
 */
export function providerError(provider: string, error: unknown): ToolformerError {
  const e = error as SdkError;
  const message = `${provider}: ${scrub(e.message ?? String(error))}`;
  const cause = scrubbedCause(error);
  if (e.status === 429) {
    const waitMs = retryAfterMs(e.headers) ?? rateLimitResetMs(e.headers) ?? DEFAULT_RATE_LIMIT_WAIT_MS;
    return new RetryableError(ErrorCode.PROVIDER_ERROR, message, waitMs, { cause, details: { status: 429 } });
  }
  if (e.status === undefined || e.status >= 500) {
    return new RetryableError(ErrorCode.PROVIDER_ERROR, message, retryAfterMs(e.headers) ?? 0, { cause });
  }
  return new TerminalError(ErrorCode.PROVIDER_ERROR, message, { cause, details: { status: e.status } });
}

/**
 * The SDK's error as the cause, with a key its message or stack echoes scrubbed: loggers print a
 * cause's message and stack too (pino's `err` does), so the original must not travel on.
 */
function scrubbedCause(error: unknown): Error {
  if (!(error instanceof Error)) return new Error(scrub(String(error)));
  const copy = new Error(scrub(error.message));
  copy.name = error.name;
  if (error.stack !== undefined) copy.stack = scrub(error.stack);
  return copy;
}

/** Runs one SDK call; whatever it throws comes out as ours, or as the abort reason when aborted. */
export async function asProviderCall<T>(provider: string, signal: AbortSignal, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    if (error instanceof ToolformerError) throw error;
    throw providerError(provider, error);
  }
}

function retryAfterMs(headers: Headers | undefined): number | undefined {
  const ms = Number(headers?.get("retry-after-ms"));
  if (Number.isFinite(ms) && ms > 0) return ms;
  const seconds = Number(headers?.get("retry-after"));
  if (Number.isFinite(seconds) && seconds > 0) return seconds * 1000;
  return undefined;
}

/**
 * Without retry-after, OpenAI-style `x-ratelimit-reset-requests` / `-tokens` say when the exhausted
 * budget refills, as durations like `1s`, `6m0s` or `250ms`: the later of the two is the wait.
 */
export function rateLimitResetMs(headers: Headers | undefined): number | undefined {
  const waits = ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"]
    .map((name) => parseDurationMs(headers?.get(name) ?? ""))
    .filter((ms): ms is number => ms !== undefined && ms > 0);
  return waits.length ? Math.max(...waits) : undefined;
}

function parseDurationMs(text: string): number | undefined {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text.trim()) return undefined;
  const unitMs: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };
  return parts.reduce((sum, [, value, unit]) => sum + Number(value) * (unitMs[unit ?? "ms"] ?? 1), 0);
}

function scrub(text: string): string {
  return text.replace(/\b(sk-[A-Za-z0-9_-]{8,}|sk-ant-[A-Za-z0-9_-]{8,})/g, "[redacted]");
}
