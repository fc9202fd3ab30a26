import type { ToolsReply } from "@toolformer/protocol";
import { connectCliClient } from "../local-credentials.ts";

export async function runToolsCommand(): Promise<number> {
  const client = await connectCliClient();
  try {
    const { tools } = await client.tools();
    if (tools.length === 0) console.log("no tools are available (is an executor running?)");
    for (const tool of tools) console.log(toolLine(tool));
    return 0;
  } finally {
    await client.close();
  }
}

/**
 * One tool as `toolformer tools` lists it: its name, then in brackets its source, what may be done with
 * its calls (`read-only`: speculated and run ahead of order; `idempotent`: tried again after a failure;
 * `side effects`: neither), `destructive` where the tool says so, and its rate limit; then its description.
 */
export function toolLine(tool: ToolsReply["tools"][number]): string {
  const traits = [
    tool.source,
    tool.readOnly ? "read-only" : tool.idempotent ? "idempotent" : "side effects",
    tool.destructive ? "destructive" : "",
    tool.rateLimit ? `max ${tool.rateLimit.limit}/${tool.rateLimit.intervalMs}ms` : "",
  ];
  return `${tool.name.padEnd(20)} ${tool.description}  [${traits.filter(Boolean).join(", ")}]`;
}
