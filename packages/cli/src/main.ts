import { parseArgs } from "node:util";

// Each command is imported when it runs: `toolformer actor <name>` is what every actor's container runs,
// and it should hold only that actor's modules, not the fake model's, the local stack's or the client's.

const USAGE = `usage: toolformer <command>

  up [--executors N] [--dispatchers N] [--schedulers N] [--rate-limiters N] [--speculation N]
     [--nats-port PORT] [--no-demo] [--tenants a,b] [--dashboard-port PORT | --no-dashboard]
                          the whole stack in the foreground (a local nats-server unless NATS_URL is set;
                          the fake model unless OPENAI_API_KEY / ANTHROPIC_API_KEY is set); --tenants
                          gives the local server a NATS account per tenant (docs/adr/0017)
  provision               create or update every stream, bucket and object store (the admin role's
                          step before actors start: actors may not create them); TF_REPLICAS,
                          TF_STORAGE_LIMITS (JSON caps: docs/security.md), TF_TENANTS (a,b: the tenant
                          accounts' event streams)
  credentials [--dir DIR] [--namespace NS]
                          an nkey per role in DIR (default .toolformer/credentials; kept if there) and
                          the Kubernetes Secrets of deploy/k8s on stdout: ... | kubectl apply -f -
  actor <name>            one actor: dispatcher | scheduler | rate-limiter | speculation | executor
  actor executor [--tools a,b] [--tool-modules ./mine.ts,...] [--mcp-servers JSON]
                          which tools this executor hosts (the same as TF_EXECUTOR_TOOLS,
                          TF_EXECUTOR_TOOL_MODULES, TF_MCP_SERVERS)
  run "<prompt>" [--model provider:name] [--tools a,b] [--timeout MS] [--json]
                          send a request, show its tool calls as they happen and the answer: on a
                          terminal a live tree of turns and calls, redrawn in place (TOOLFORMER_TREE=0
                          or 1 turns it off or on), otherwise a line per event (--json: events and the
                          reply as JSON lines); Ctrl-C cancels it and waits for the reply
  watch <request-id> [--json]
                          follow one request's events, from its first, until it ends
  cancel <request-id>     cancel a request wherever it runs
  approve <request-id> <call-id> [--deny] [--reason TEXT] [--args JSON]
                          decide on a call that waits for approval (run and watch show them): approve
                          it, with --args to run it with these arguments instead of the model's, or
                          deny it (the reason reaches the model); exits 4 when the decision is refused
                          (not waiting, already decided, arguments the tool refuses)
  tools                   list the tools the stack can call
  replay <request-id> [--dry-run] [--json]
                          run a finished request again from its records (kept 2 h): the recorded model
                          turns stand in for the model, which is not asked; the calls run against the
                          tools as they are now; prints each call as recorded (=) or what changed (≠),
                          and the turns recorded after results that changed; exits 5 when anything
                          differs. --dry-run only prints the recorded timeline: nothing runs
  status [--json]         actor copies, tools and their hosts, consumer lag, rate-limit scopes (use,
                          limit, waiting calls); exits 3 when no actor answers (the viewer role)
  dashboard [--port P] [--host H] [--approve]
                          the web dashboard (default http://127.0.0.1:8080/): live requests, each as a
                          timeline of turns and calls, cancel; rate-limit scopes; the cluster; reads
                          NATS only (the viewer role); --approve adds approve and deny buttons, sent
                          with the client role's credentials (as \`toolformer approve\` sends them)
  fake-llm [--port P] [--host H] [--scenarios FILE]
                          the fake model server on its own
  compile-cache           compile every module the command runs into Node's compile cache
                          (NODE_COMPILE_CACHE), running none: later processes with the same node flags
                          and user then never strip TypeScript types (the image does it at build)

environment: NATS_URL (default nats://127.0.0.1:4222; tls:// for TLS), LOG_LEVEL, METRICS_PORT, ...
exit codes: 0 completed, 1 failed or timed out, 2 usage, 3 no dispatcher or no reply in time,
  4 rejected, 5 a replay differs, 130 cancelled with Ctrl-C. \`toolformer <command> --help\` shows one command.
credentials (docs/security.md): NATS_CREDS or NATS_NKEY (files), or NATS_USER and NATS_PASSWORD;
  TLS files NATS_CA, NATS_CERT, NATS_KEY. Without them, run, watch, cancel, approve, replay and tools use
  the client key that \`toolformer up\` made under .toolformer/credentials, status and dashboard the viewer key.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== undefined && (rest.includes("--help") || rest.includes("-h"))) {
    console.log(commandUsage(command));
    return 0;
  }
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
          "dashboard-port": { type: "string", default: "8080" },
          "no-dashboard": { type: "boolean", default: false },
          tenants: { type: "string", default: "" },
        },
      });
      const { runUpCommand } = await import("./commands/up.ts");
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
        dashboardPort: values["no-dashboard"] ? null : count(values["dashboard-port"]),
        tenants: values.tenants.split(",").filter((tenant) => tenant !== ""),
      });
    }
    case "actor": {
      const [name, ...flags] = rest;
      if (name === "executor") Object.assign(process.env, executorFlags(flags));
      else if (flags.length > 0) throw new UsageError(`actor ${name} takes no options`);
      const { runActorCommand } = await import("./commands/actor.ts");
      return runActorCommand(name);
    }
    case "run": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          model: { type: "string" },
          tools: { type: "string" },
          timeout: { type: "string" },
          json: { type: "boolean", default: false },
        },
      });
      const prompt = positionals.join(" ").trim();
      if (!prompt) throw new UsageError("run needs a prompt");
      const { runRunCommand } = await import("./commands/run.ts");
      const tree =
        process.env.TOOLFORMER_TREE === undefined ? process.stdout.isTTY : process.env.TOOLFORMER_TREE === "1";
      return runRunCommand({
        prompt,
        model: values.model ?? process.env.TOOLFORMER_MODEL ?? "fake:demo",
        ...(values.tools ? { tools: values.tools.split(",").map((t) => t.trim()) } : {}),
        ...(values.timeout ? { timeoutMs: count(values.timeout) } : {}),
        json: values.json,
        ...(tree ? { tree: terminalOutput() } : {}),
      });
    }
    case "watch": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { json: { type: "boolean", default: false } },
      });
      const [requestId] = positionals;
      if (!requestId || positionals.length > 1) throw new UsageError("watch needs one request id");
      const { runWatchCommand } = await import("./commands/watch.ts");
      return runWatchCommand({ requestId, json: values.json });
    }
    case "cancel": {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {} });
      const [requestId] = positionals;
      if (!requestId || positionals.length > 1) throw new UsageError("cancel needs one request id");
      const { runCancelCommand } = await import("./commands/cancel.ts");
      return runCancelCommand(requestId);
    }
    case "approve": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { deny: { type: "boolean", default: false }, reason: { type: "string" }, args: { type: "string" } },
      });
      const [requestId, callId] = positionals;
      if (!requestId || !callId || positionals.length > 2)
        throw new UsageError("approve needs a request id and a call id");
      const { approveMessage, runApproveCommand } = await import("./commands/approve.ts");
      const message = approveMessage(
        { requestId, callId, deny: values.deny, reason: values.reason, args: values.args },
        (why) => new UsageError(why),
      );
      return runApproveCommand(requestId, message);
    }
    case "tools":
      return (await import("./commands/tools.ts")).runToolsCommand();
    case "status": {
      const { values } = parseArgs({ args: rest, options: { json: { type: "boolean", default: false } } });
      return (await import("./commands/status.ts")).runStatusCommand({ json: values.json });
    }
    case "replay": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { "dry-run": { type: "boolean", default: false }, json: { type: "boolean", default: false } },
      });
      const [requestId] = positionals;
      if (!requestId || positionals.length > 1) throw new UsageError("replay needs one request id");
      const { runReplayCommand } = await import("./commands/replay.ts");
      return runReplayCommand({ requestId, dryRun: values["dry-run"], json: values.json });
    }
    case "dashboard": {
      const { values } = parseArgs({
        args: rest,
        options: {
          port: { type: "string", default: "8080" },
          host: { type: "string", default: "127.0.0.1" },
          approve: { type: "boolean", default: false },
        },
      });
      const { runDashboardCommand } = await import("./commands/dashboard.ts");
      return runDashboardCommand({ port: count(values.port), host: values.host, approve: values.approve });
    }
    case "provision":
      return (await import("./commands/provision.ts")).runProvisionCommand();
    case "credentials": {
      const { values } = parseArgs({
        args: rest,
        options: { dir: { type: "string" }, namespace: { type: "string" } },
      });
      const { runCredentialsCommand } = await import("./commands/credentials.ts");
      const { localCredentialsDir } = await import("./local-credentials.ts");
      return runCredentialsCommand(values.dir ?? localCredentialsDir(), values.namespace);
    }
    case "fake-llm":
      return (await import("./commands/fake-llm.ts")).runFakeLlmCommand(rest);
    case "compile-cache":
      return (await import("./commands/compile-cache.ts")).runCompileCacheCommand();
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

/** One command's lines of the usage (its own and the lines that continue it), or the whole usage. */
function commandUsage(command: string): string {
  const lines = USAGE.split("\n");
  const own: string[] = [];
  let inside = false;
  for (const line of lines) {
    const starts = /^  (\S+)/.exec(line)?.[1];
    if (starts !== undefined) inside = starts === command;
    else if (!/^ {3,}/.test(line)) inside = false;
    if (inside) own.push(line);
  }
  return own.length > 0 ? `usage: toolformer\n${own.join("\n")}` : USAGE;
}

/** Where `run` draws its tree: stdout, with its width when it is a terminal that knows it (a bare pty says 0). */
function terminalOutput(): { write(text: string): void; columns?: number } {
  const columns = process.stdout.columns;
  return { write: (text) => void process.stdout.write(text), ...(columns > 0 ? { columns } : {}) };
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
