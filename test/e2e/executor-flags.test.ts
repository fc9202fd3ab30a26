import { spawn } from "node:child_process";
import { natsAuthToEnv } from "@toolformer/client";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEnvironment, waitForCatalog, type TestEnvironment } from "../support/environment.ts";

const CLI = fileURLToPath(new URL("../../packages/cli/bin/toolformer.mjs", import.meta.url));
const TOOL_MODULE = fileURLToPath(new URL("../support/ledger-tool.ts", import.meta.url));

describe("toolformer actor executor --tools --tool-modules", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({ copies: { executor: 0 }, waitForTools: [] });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it("hosts exactly the tools its flags name: one example tool and the tools of a module", async () => {
    const child = spawn(
      process.execPath,
      [CLI, "actor", "executor", "--tools", "echo", "--tool-modules", TOOL_MODULE],
      {
        env: {
          ...process.env,
          ...natsAuthToEnv(env.nats.credentials("executor")),
          NATS_URL: env.natsUrl,
          LOG_LEVEL: "error",
          TF_EXECUTOR_REMOTE_TOOLS: "false",
        },
        stdio: "ignore",
      },
    );
    try {
      await waitForCatalog(env.client, ["echo", "ledger_write"], 20_000);
      const names = (await env.client.tools()).tools.map((tool) => tool.name).sort();
      expect(names).toEqual(["echo", "ledger_write"]);
    } finally {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
  });
});
