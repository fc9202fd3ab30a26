import { parseModelRef } from "@toolformer/protocol";
import { AnthropicProvider } from "./anthropic.ts";
import { OpenAiProvider } from "./openai.ts";
import type { ModelProvider } from "./types.ts";

/** The SDKs do not retry by default: the dispatcher retries itself, within the request's deadline. */
export const DEFAULT_MAX_RETRIES = 0;
export const DEFAULT_PROVIDER_TIMEOUT_MS = 120_000;

export interface ProviderConfig {
  openai?: { apiKey: string; baseURL?: string };
  anthropic?: { apiKey: string; baseURL?: string };
  /** The fake model server, spoken to through the OpenAI adapter (its `/v1` URL). */
  fake?: { baseURL: string };
  maxRetries?: number;
  timeoutMs?: number;
  /** Stream model responses (default true): tool calls are then dispatched as soon as each is complete. */
  streaming?: boolean;
}

export interface ProviderRegistry {
  /** The provider and bare model name of `"<provider>:<model>"`, or undefined when none is configured. */
  resolve(modelRef: string): { provider: ModelProvider; model: string } | undefined;
  providers(): string[];
}

/** Providers from explicit settings (the caller reads the environment, not this package). */
export function createProviderRegistry(config: ProviderConfig): ProviderRegistry {
  const common = {
    maxRetries: config.maxRetries ?? DEFAULT_MAX_RETRIES,
    timeoutMs: config.timeoutMs ?? DEFAULT_PROVIDER_TIMEOUT_MS,
    streaming: config.streaming ?? true,
  };
  const providers = new Map<string, ModelProvider>();
  if (config.openai) providers.set("openai", new OpenAiProvider("openai", { ...config.openai, ...common }));
  if (config.anthropic)
    providers.set("anthropic", new AnthropicProvider("anthropic", { ...config.anthropic, ...common }));
  if (config.fake)
    providers.set("fake", new OpenAiProvider("fake", { apiKey: "fake-key", baseURL: config.fake.baseURL, ...common }));
  return {
    resolve(modelRef) {
      const ref = parseModelRef(modelRef);
      const provider = ref ? providers.get(ref.provider) : undefined;
      return provider && ref ? { provider, model: ref.name } : undefined;
    },
    providers: () => [...providers.keys()],
  };
}
