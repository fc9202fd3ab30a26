import { spawnActors, waitForActors, type ActorProcesses } from "@toolformer/cli";
import { waitForCatalog, type TestEnvironment } from "./environment.ts";

/**
 * `copies` executor processes hosting only the tools of `toolModule` (no example or remote tools), with
 * `extra` in their environment; ready once every copy answers and `tools` are in the catalog.
 */
export async function spawnModuleExecutors(
  env: TestEnvironment,
  options: { copies: number; toolModule: string; tools: string[]; extra?: Record<string, string> },
): Promise<ActorProcesses> {
  const executors = spawnActors(
    { executor: options.copies },
    {
      ...process.env,
      NATS_URL: env.natsUrl,
      LOG_LEVEL: "error",
      TF_EXECUTOR_TOOLS: "",
      TF_EXECUTOR_REMOTE_TOOLS: "false",
      TF_EXECUTOR_TOOL_MODULES: options.toolModule,
      ...options.extra,
    },
    { output: "ignore", credentials: env.nats.credentials },
  );
  await waitForActors(env.natsUrl, { executor: options.copies }, 20_000, env.nats.credentials("admin"));
  await waitForCatalog(env.client, options.tools);
  return executors;
}
