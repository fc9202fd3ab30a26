/**
 * An SDK client made on first use: each SDK is a few hundred modules and 25-35 MB of memory, which a
 * process that never asks that provider (a dispatcher with only OpenAI configured, a speculation engine
 * without a fast model) should not hold. Later calls share the first one's client.
 */
export function lazySdkClient<T>(make: () => Promise<T>): () => Promise<T> {
  let client: Promise<T> | undefined;
  return () => (client ??= make());
}
