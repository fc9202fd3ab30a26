export { ToolformerClient, REPLY_GRACE_MS, type RequestOptions, type StreamItem } from "./client.ts";
export {
  InvalidReplyError,
  OrchestratorUnavailableError,
  ReplyTimeoutError,
  RequestAbortedError,
  ToolformerError,
} from "./errors.ts";
export {
  connectionOptions,
  hasCredentials,
  natsAuthFromEnv,
  natsAuthToEnv,
  NatsAuthSchema,
  type NatsAuth,
} from "./connection-options.ts";
