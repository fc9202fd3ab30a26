/**
 * What a single-process agent framework does (LangGraph, the Vercel AI SDK): the round's tool calls
 * with Promise.all under a concurrency limit. No network, no durability: the floor for local work.
 */
export async function runInProcess(
  calls: number,
  concurrency: number,
  tool: (value: number) => Promise<unknown>,
): Promise<unknown[]> {
  const results: unknown[] = new Array(calls);
  let next = 0;
  const lane = async () => {
    while (next < calls) {
      const index = next++;
      results[index] = await tool(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, calls) }, lane));
  return results;
}
