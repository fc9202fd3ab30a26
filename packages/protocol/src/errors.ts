import { z } from "zod";

/** Stable error codes of the public contract. New codes may be added; none is ever renamed. */
export const ErrorCode = {
  INVALID_REQUEST: "INVALID_REQUEST",
  INVALID_ARGUMENTS: "INVALID_ARGUMENTS",
  UNKNOWN_MODEL: "UNKNOWN_MODEL",
  UNKNOWN_TOOL: "UNKNOWN_TOOL",
  TOOL_FAILED: "TOOL_FAILED",
  TIMEOUT: "TIMEOUT",
  CANCELLED: "CANCELLED",
  RATE_LIMITED: "RATE_LIMITED",
  PAYLOAD_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  /** The request's body, prompt, system or messages is over its cap (docs/protocol.md); nothing ran. */
  REQUEST_TOO_LARGE: "REQUEST_TOO_LARGE",
  /** A tenant's request names another tenant in `options.tenant`; the tenant is the credentials' (ADR 0017). */
  TENANT_MISMATCH: "TENANT_MISMATCH",
  /** A tenant's request asks for a priority above what its tenant is allowed (`TF_TENANT_POLICIES`). */
  PRIORITY_NOT_ALLOWED: "PRIORITY_NOT_ALLOWED",
  CYCLE_DETECTED: "CYCLE_DETECTED",
  DEPENDENCY_FAILED: "DEPENDENCY_FAILED",
  MAX_ROUNDS_EXCEEDED: "MAX_ROUNDS_EXCEEDED",
  PROVIDER_ERROR: "PROVIDER_ERROR",
  /** A call that needed approval was denied (the approver's reason is the message). */
  APPROVAL_DENIED: "APPROVAL_DENIED",
  /** An approval names a call that does not wait for one (unknown, already decided, or never needing it). */
  APPROVAL_NOT_PENDING: "APPROVAL_NOT_PENDING",
  /**
   * A replay names a request it cannot run again: unknown, still running, ended before the model's first
   * answer, or whose records have expired (`details.reason` says which).
   */
  NOT_REPLAYABLE: "NOT_REPLAYABLE",
  INTERNAL: "INTERNAL",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const ErrorCodeSchema = z.enum(Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]]);

export const ErrorBodySchema = z.object({
  code: ErrorCodeSchema,
  message: z.string(),
  details: z.unknown().optional(),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

interface ToolformerErrorOptions {
  cause?: unknown;
  details?: unknown;
}

/** Root of every error the system raises on purpose; becomes an `ErrorBody` only at the boundary. */
export abstract class ToolformerError extends Error {
  abstract readonly retryable: boolean;
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, options: ToolformerErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  toBody(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** A failure that will not go away by trying again (bad input, unknown model, a tool's own error). */
export class TerminalError extends ToolformerError {
  override readonly name = "TerminalError";
  readonly retryable = false;
}

/** A passing failure (rate limit, overloaded provider); `retryAfterMs` says when a retry may succeed. */
export class RetryableError extends ToolformerError {
  override readonly name = "RetryableError";
  readonly retryable = true;
  readonly retryAfterMs: number;

  constructor(code: ErrorCode, message: string, retryAfterMs: number, options: ToolformerErrorOptions = {}) {
    super(code, message, options);
    this.retryAfterMs = retryAfterMs;
  }
}

/** Any thrown value as an error body; unexpected errors become INTERNAL without leaking stack traces. */
export function toErrorBody(error: unknown, fallback: ErrorCode = ErrorCode.INTERNAL): ErrorBody {
  if (error instanceof ToolformerError) return error.toBody();
  const message = error instanceof Error ? error.message : String(error);
  return { code: fallback, message };
}
