export type {
  ModelProvider,
  ModelTurn,
  ModelTurnRequest,
  ConversationMessage,
  ModelToolCall,
  ProviderSettings,
} from "./types.ts";
export { createProviderRegistry, type ProviderConfig, type ProviderRegistry } from "./registry.ts";
export { OpenAiProvider } from "./openai.ts";
export { AnthropicProvider } from "./anthropic.ts";
export {
  ProviderEndpointsSchema,
  providerEndpointsFromEnv,
  registryFromEndpoints,
  type ProviderEndpoints,
} from "./endpoints.ts";
export { toolRoundMessages, type ToolExchange } from "./conversation.ts";
