export { ToolformerClient, REPLY_GRACE_MS, type RequestOptions } from "./client.ts";
