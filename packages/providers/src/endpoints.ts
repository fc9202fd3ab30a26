import { z } from "zod";
import { createProviderRegistry, type ProviderRegistry } from "./registry.ts";

const EndpointSchema = z.object({ apiKey: z.string().min(1), baseURL: z.string().url().optional() });

/** Where each provider is reached: what every actor that talks to models is configured with. */
export const ProviderEndpointsSchema = z.object({
  openai: EndpointSchema.optional(),
  anthropic: EndpointSchema.optional(),
  /** Base URL of the fake model server (its root; `/v1` is added for the OpenAI API). */
  fakeLlmUrl: z.string().url().optional(),
});
export type ProviderEndpoints = z.infer<typeof ProviderEndpointsSchema>;

/** The endpoints from the variables the official SDKs read themselves, plus FAKE_LLM_URL (unvalidated). */
export function providerEndpointsFromEnv(env: NodeJS.ProcessEnv): Record<keyof ProviderEndpoints, unknown> {
  const endpoint = (apiKey: string | undefined, baseURL: string | undefined) =>
    apiKey ? { apiKey, ...(baseURL ? { baseURL } : {}) } : undefined;
  return {
    openai: endpoint(env.OPENAI_API_KEY, env.OPENAI_BASE_URL),
    anthropic: endpoint(env.ANTHROPIC_API_KEY, env.ANTHROPIC_BASE_URL),
    fakeLlmUrl: env.FAKE_LLM_URL,
  };
}

/** A registry with a provider for every configured endpoint. */
export function registryFromEndpoints(endpoints: ProviderEndpoints): ProviderRegistry {
  return createProviderRegistry({
    ...(endpoints.openai ? { openai: endpoints.openai } : {}),
    ...(endpoints.anthropic ? { anthropic: endpoints.anthropic } : {}),
    ...(endpoints.fakeLlmUrl ? { fake: { baseURL: `${endpoints.fakeLlmUrl.replace(/\/$/, "")}/v1` } } : {}),
  });
}
