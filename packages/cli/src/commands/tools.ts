import { ToolformerClient } from "@toolformer/client";
import { DEFAULT_NATS_URL } from "@toolformer/runtime";

export async function runToolsCommand(): Promise<number> {
  const client = await ToolformerClient.connect(process.env.NATS_URL ?? DEFAULT_NATS_URL);
  try {
    const { tools } = await client.tools();
    if (tools.length === 0) console.log("no tools are available (is an executor running?)");
    for (const tool of tools) {
      const traits = [
        tool.source,
        tool.idempotent ? "idempotent" : "side effects",
        tool.rateLimit ? `max ${tool.rateLimit.limit}/${tool.rateLimit.intervalMs}ms` : "",
      ];
      console.log(`${tool.name.padEnd(20)} ${tool.description}  [${traits.filter(Boolean).join(", ")}]`);
    }
    return 0;
  } finally {
    await client.close();
  }
}
