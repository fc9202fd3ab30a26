import { REDACTED } from "@toolformer/protocol";
import { pino, type DestinationStream, type Logger } from "pino";
import { traceFields } from "./trace-context.ts";

export type { Logger };

/**
 * Fields never written to a log, at the top of a line's object or one level down (`{ config: {...} }`,
 * `{ err: {...} }`): provider keys and NATS credentials (what the SDKs and nats.js name them), and
 * what clients send: prompts and tool arguments. Arguments are never logged whole, so whatever a tool's
 * schema marks sensitive (docs/tools.md) cannot reach a log either; events redact those fields alone.
 */
const SECRET_FIELDS = [
  "apiKey",
  "authorization",
  "password",
  "pass",
  "token",
  "nkey",
  "seed",
  "creds",
  "credentials",
  "prompt",
  "system",
  "messages",
  "args",
];
const SECRET_HEADERS = ["authorization", '"x-api-key"', '"proxy-authorization"'];

export const REDACTED_LOG_PATHS: readonly string[] = [
  ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`]),
  ...SECRET_HEADERS.flatMap((header) => [`headers[${header}]`, `*.headers[${header}]`]),
  "tls.key",
  "*.tls.key",
];

/**
 * JSON logs on stdout (or `destination`); every line names the actor and the copy, callers add
 * `requestId`/`callId`, and a line written while a message is handled carries the `trace_id` and
 * `span_id` of the span it is handled in (from the active context: no caller passes them). Secrets
 * are censored by `REDACTED_LOG_PATHS`.
 */
export function createLogger(actor: string, actorId: string, level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { actor, actorId },
    mixin: () => traceFields(),
    redact: { paths: [...REDACTED_LOG_PATHS], censor: REDACTED },
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * A child of `parent` made on first use. pino makes a child by running its bindings through the
 * redaction and serializing them (tens of microseconds); an executor made one for every call it ran,
 * though most calls log nothing, and a wide turn's calls all start at once on a busy machine.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  const made = () => (child ??= parent.child(bindings));
  return new Proxy(parent, {
    get(_parent, property) {
      const logger = made();
      const value: unknown = Reflect.get(logger, property, logger);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(logger) : value;
    },
    set(_parent, property, value) {
      return Reflect.set(made(), property, value);
    },
  });
}
