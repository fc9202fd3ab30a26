export { ToolformerClient, REPLY_GRACE_MS, type RequestOptions } from "./client.ts";
export {
  connectionOptions,
  hasCredentials,
  natsAuthFromEnv,
  natsAuthToEnv,
  NatsAuthSchema,
  type NatsAuth,
} from "./connection-options.ts";
