import type { ToolformerClient } from "@toolformer/client";
import { EventType, newRequestId, type OrchestrateEvent, type OrchestrateReply } from "@toolformer/protocol";
import { connectCliClient } from "../local-credentials.ts";
import { ExitCode, unavailableExit } from "../exit-codes.ts";
import { LiveTree, type TreeOutput } from "../live-tree.ts";

export interface RunOptions {
  prompt: string;
  model: string;
  tools?: string[];
  timeoutMs?: number;
  /** Events and the reply as JSON lines, for scripts. */
  json?: boolean;
  /**
   * Draw the request as a live tree here (a terminal) instead of a line per event; the reply is printed
   * under it. Ignored with `json`.
   */
  tree?: TreeOutput;
}

/**
 * Sends one request and prints its tool calls as they happen (a live tree with `options.tree`, a line
 * per event otherwise), then the answer. Ctrl-C cancels the
 * request and waits for its `cancelled` reply (a second Ctrl-C leaves at once). Exit codes: `ExitCode`.
 */
export async function runRunCommand(options: RunOptions): Promise<number> {
  const client = await connectCliClient();
  const interrupted = new AbortController();
  const onInterrupt = () => {
    if (interrupted.signal.aborted) process.exit(ExitCode.interrupted);
    interrupted.abort();
  };
  process.on("SIGINT", onInterrupt);
  try {
    const reply = await runAndPrint(client, options, (line) => console.log(line), interrupted.signal);
    return exitCodeOf(reply);
  } catch (error) {
    return unavailableExit(error);
  } finally {
    process.off("SIGINT", onInterrupt);
    await client.close();
  }
}

export function exitCodeOf(reply: OrchestrateReply): number {
  switch (reply.status) {
    case "completed":
      return ExitCode.completed;
    case "cancelled":
      return ExitCode.interrupted;
    case "rejected":
      return ExitCode.rejected;
    default:
      return ExitCode.failed;
  }
}

/**
 * Runs the request, printing its events (lines, or JSON with `options.json`) and then its reply. When
 * `interrupt` fires, the request is cancelled and its reply (`cancelled`) still awaited and printed.
 */
export async function runAndPrint(
  client: ToolformerClient,
  options: RunOptions,
  print: (line: string) => void,
  interrupt?: AbortSignal,
): Promise<OrchestrateReply> {
  const id = newRequestId();
  const tree = options.tree && !options.json ? new LiveTree(id, options.tree) : undefined;
  const cancel = () => {
    const note = `cancelling ${id} (Ctrl-C again to leave at once)`;
    if (tree) tree.note(note);
    else if (!options.json) print(note);
    void client.cancel(id);
  };
  interrupt?.addEventListener("abort", cancel, { once: true });
  const watching = new AbortController();
  const printing = (async () => {
    for await (const event of client.events(id, watching.signal)) {
      if (tree) {
        tree.apply(event);
        continue;
      }
      const line = options.json ? JSON.stringify(event) : describe(event);
      if (line) print(line);
    }
  })().catch(() => undefined);
  tree?.start();
  try {
    const reply = await client.request({
      id,
      prompt: options.prompt,
      model: options.model,
      ...(options.tools ? { tools: options.tools } : {}),
      ...(options.timeoutMs ? { options: { timeoutMs: options.timeoutMs } } : {}),
    });
    await Promise.race([printing, new Promise((resolve) => setTimeout(resolve, 1_000))]);
    tree?.stop();
    if (options.json) print(JSON.stringify({ reply }));
    else printReply(reply, print);
    return reply;
  } finally {
    tree?.stop();
    watching.abort();
    interrupt?.removeEventListener("abort", cancel);
  }
}

function printReply(reply: OrchestrateReply, print: (line: string) => void): void {
  if (reply.status === "completed") print(`answer: ${reply.answer ?? ""}`);
  else print(`${reply.status}: ${reply.error ? `${reply.error.code} ${reply.error.message}` : ""}`);
  print(`(${reply.toolCalls.length} tool calls, ${reply.rounds} rounds, ${reply.timings.totalMs} ms)`);
}

/** One event as a line of `run` and `watch`; undefined for those they do not show. */
export function describe(event: OrchestrateEvent): string | undefined {
  switch (event.type) {
    case EventType.modelRequested:
      return `  … model turn ${event.round}`;
    case EventType.toolStarted:
      return `  > ${event.tool} [${event.callId}] started`;
    case EventType.toolProgress:
      return `  ~ ${event.tool} [${event.callId}] ${JSON.stringify(event.partial)}`;
    case EventType.toolAwaitingApproval:
      return `  ? ${event.tool} [${event.callId}] awaiting approval (expires in ${Math.round((event.expiresAt - event.at) / 1000)} s): ${JSON.stringify(event.args)}; toolformer approve ${event.requestId} ${event.callId} [--deny]`;
    case EventType.toolApprovalDecided:
      return `  * ${event.tool} [${event.callId}] ${event.decision}${event.edited ? " with edited arguments" : ""}${event.reason ? `: ${event.reason}` : ""}`;
    case EventType.toolCompleted:
      return `  < ${event.tool} [${event.callId}] ${event.durationMs} ms${event.cached ? " (cached)" : ""}: ${JSON.stringify(event.result)}`;
    case EventType.toolFailed:
      return `  ! ${event.tool} [${event.callId}] ${event.status}: ${event.error.code} ${event.error.message}`;
    case EventType.toolCancelled:
      return `  x ${event.tool} [${event.callId}] cancelled`;
    case EventType.requestCompleted:
      return `  = ${event.status} after ${event.rounds} rounds`;
    default:
      return undefined;
  }
}
