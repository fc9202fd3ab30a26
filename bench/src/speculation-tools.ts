/**
 * The tools of the speculation benchmark, loaded by its executor processes (TF_EXECUTOR_TOOL_MODULES):
 * a research agent's search and page fetch, and a lookup whose keys nobody can guess. Each takes
 * TF_BENCH_TOOL_MS (default 300 ms), like a remote API.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { defineTool } from "@toolformer/tools";

const toolMs = Number(process.env.TF_BENCH_TOOL_MS ?? 300);

export const search = defineTool({
  name: "search",
  description: "Searches the web; returns the top results' URLs.",
  parameters: z.object({ query: z.string() }),
  readOnly: true,
  idempotent: true,
  async run({ query }, ctx) {
    await sleep(toolMs, undefined, { signal: ctx.signal });
    return { results: [0, 1, 2].map((i) => ({ url: `https://example.org/${encodeURIComponent(query)}/${i}` })) };
  },
});

export const fetchPage = defineTool({
  name: "fetch_page",
  description: "Fetches a page's text.",
  parameters: z.object({ url: z.string() }),
  readOnly: true,
  idempotent: true,
  async run({ url }, ctx) {
    await sleep(toolMs, undefined, { signal: ctx.signal });
    return { text: `the text of ${url}` };
  },
});

export const lookup = defineTool({
  name: "lookup",
  description: "Looks a key up.",
  parameters: z.object({ key: z.string() }),
  readOnly: true,
  idempotent: true,
  async run({ key }, ctx) {
    await sleep(toolMs, undefined, { signal: ctx.signal });
    return { key, value: key.length };
  },
});
