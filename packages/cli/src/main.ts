import { parseArgs } from "node:util";
import { runActorCommand } from "./commands/actor.ts";
import { runCredentialsCommand } from "./commands/credentials.ts";
import { runFakeLlmCommand } from "./commands/fake-llm.ts";
import { runProvisionCommand } from "./commands/provision.ts";
import { runRunCommand } from "./commands/run.ts";
import { runToolsCommand } from "./commands/tools.ts";
import { runUpCommand } from "./commands/up.ts";
import { localCredentialsDir } from "./local-credentials.ts";

const USAGE = `usage: toolformer <command>

  up [--executors N] [--dispatchers N] [--schedulers N] [--rate-limiters N] [--speculation N]
     [--nats-port PORT] [--no-demo]
                          the whole stack in the foreground (a local nats-server unless NATS_URL is set;
                          the fake model unless OPENAI_API_KEY / ANTHROPIC_API_KEY is set)
  provision               create or update every stream, bucket and object store (the admin role's
                          step before actors start: actors may not create them); TF_REPLICAS,
                          TF_STORAGE_LIMITS (JSON caps: docs/security.md)
  credentials [--dir DIR] [--namespace NS]
                          an nkey per role in DIR (default .toolformer/credentials; kept if there) and
                          the Kubernetes Secrets of deploy/k8s on stdout: ... | kubectl apply -f -
  actor <name>            one actor: dispatcher | scheduler | rate-limiter | speculation | executor
  actor executor [--tools a,b] [--tool-modules ./mine.ts,...] [--mcp-servers JSON]
                          which tools this executor hosts (the same as TF_EXECUTOR_TOOLS,
                          TF_EXECUTOR_TOOL_MODULES, TF_MCP_SERVERS)
  run "<prompt>" [--model provider:name] [--tools a,b] [--timeout MS]
                          send a request, print tool calls as they happen and the answer
  tools                   list the tools the stack can call
  fake-llm [--port P] [--host H] [--scenarios FILE]
                          the fake model server on its own

environment: NATS_URL (default nats://127.0.0.1:4222; tls:// for TLS), LOG_LEVEL, METRICS_PORT, ...
credentials (docs/security.md): NATS_CREDS or NATS_NKEY (files), or NATS_USER and NATS_PASSWORD;
  TLS files NATS_CA, NATS_CERT, NATS_KEY. Without them, run and tools use the client key that
  \`toolformer up\` made under .toolformer/credentials.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "up": {
      const { values } = parseArgs({
        args: rest,
        options: {
          executors: { type: "string", default: "1" },
          dispatchers: { type: "string", default: "1" },
          schedulers: { type: "string", default: "1" },
          "rate-limiters": { type: "string", default: "1" },
          speculation: { type: "string", default: "1" },
          "nats-port": { type: "string", default: "4222" },
          "no-demo": { type: "boolean", default: false },
        },
      });
      return runUpCommand({
        copies: {
          dispatcher: count(values.dispatchers),
          scheduler: count(values.schedulers),
          "rate-limiter": count(values["rate-limiters"]),
          speculation: count(values.speculation),
          executor: count(values.executors),
        },
        natsPort: count(values["nats-port"]),
        demo: !values["no-demo"],
      });
    }
    case "actor": {
      const [name, ...flags] = rest;
      if (name === "executor") Object.assign(process.env, executorFlags(flags));
      else if (flags.length > 0) throw new UsageError(`actor ${name} takes no options`);
      return runActorCommand(name);
    }
    case "run": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { model: { type: "string" }, tools: { type: "string" }, timeout: { type: "string" } },
      });
      const prompt = positionals.join(" ").trim();
      if (!prompt) throw new UsageError("run needs a prompt");
      return runRunCommand({
        prompt,
        model: values.model ?? process.env.TOOLFORMER_MODEL ?? "fake:demo",
        ...(values.tools ? { tools: values.tools.split(",").map((t) => t.trim()) } : {}),
        ...(values.timeout ? { timeoutMs: count(values.timeout) } : {}),
      });
    }
    case "tools":
      return runToolsCommand();
    case "provision":
      return runProvisionCommand();
    case "credentials": {
      const { values } = parseArgs({
        args: rest,
        options: { dir: { type: "string", default: localCredentialsDir() }, namespace: { type: "string" } },
      });
      return runCredentialsCommand(values.dir, values.namespace);
    }
    case "fake-llm":
      return runFakeLlmCommand(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return 0;
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The executor's tool selection flags, as the environment its main reads. */
function executorFlags(flags: string[]): Record<string, string> {
  const { values } = parseArgs({
    args: flags,
    options: { tools: { type: "string" }, "tool-modules": { type: "string" }, "mcp-servers": { type: "string" } },
  });
  return {
    ...(values.tools === undefined ? {} : { TF_EXECUTOR_TOOLS: values.tools }),
    ...(values["tool-modules"] === undefined ? {} : { TF_EXECUTOR_TOOL_MODULES: values["tool-modules"] }),
    ...(values["mcp-servers"] === undefined ? {} : { TF_MCP_SERVERS: values["mcp-servers"] }),
  };
}

function count(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new UsageError(`${text} is not a whole number`);
  return value;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) console.error(`${error.message}\n\n${USAGE}`);
    else console.error(error instanceof Error ? error.message : error);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  },
);
