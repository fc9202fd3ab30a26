import { parseArgs } from "node:util";
import { loadScenarioFile } from "./scenario.ts";
import { startFakeLlm } from "./server.ts";

/** `toolformer fake-llm [--port P] [--host H] [--scenarios FILE]`: serves until SIGINT/SIGTERM. */
export async function runFakeLlmCli(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: "string", default: "8080" },
      host: { type: "string", default: "127.0.0.1" },
      scenarios: { type: "string" },
    },
  });
  const server = await startFakeLlm({
    port: Number(values.port),
    host: values.host,
    ...(values.scenarios ? { scenarios: loadScenarioFile(values.scenarios) } : {}),
  });
  console.log(
    `fake-llm listening on ${server.url} (OpenAI baseURL ${server.openaiBaseUrl}, Anthropic baseURL ${server.anthropicBaseUrl})`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await server.close();
}
