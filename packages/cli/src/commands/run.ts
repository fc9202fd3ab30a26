import { ToolformerClient } from "@toolformer/client";
import { EventType, newRequestId, type OrchestrateEvent, type OrchestrateReply } from "@toolformer/protocol";
import { DEFAULT_NATS_URL } from "@toolformer/runtime";
import { cliCredentials } from "../local-credentials.ts";

export interface RunOptions {
  prompt: string;
  model: string;
  tools?: string[];
  timeoutMs?: number;
}

/** Sends one request and prints its tool calls as they happen, then the answer. Exit code 0 only on `completed`. */
export async function runRunCommand(options: RunOptions): Promise<number> {
  const client = await ToolformerClient.connect(
    process.env.NATS_URL ?? DEFAULT_NATS_URL,
    "toolformer-cli",
    cliCredentials("client"),
  );
  try {
    const reply = await runAndPrint(client, options, (line) => console.log(line));
    return reply.status === "completed" ? 0 : 1;
  } finally {
    await client.close();
  }
}

export async function runAndPrint(
  client: ToolformerClient,
  options: RunOptions,
  print: (line: string) => void,
): Promise<OrchestrateReply> {
  const id = newRequestId();
  const watching = new AbortController();
  const printing = (async () => {
    for await (const event of client.events(id, watching.signal)) {
      const line = describe(event);
      if (line) print(line);
    }
  })().catch(() => undefined);
  const reply = await client.request({
    id,
    prompt: options.prompt,
    model: options.model,
    ...(options.tools ? { tools: options.tools } : {}),
    ...(options.timeoutMs ? { options: { timeoutMs: options.timeoutMs } } : {}),
  });
  await Promise.race([printing, new Promise((resolve) => setTimeout(resolve, 1_000))]);
  watching.abort();
  if (reply.status === "completed") print(`answer: ${reply.answer ?? ""}`);
  else print(`${reply.status}: ${reply.error ? `${reply.error.code} ${reply.error.message}` : ""}`);
  print(`(${reply.toolCalls.length} tool calls, ${reply.rounds} rounds, ${reply.timings.totalMs} ms)`);
  return reply;
}

function describe(event: OrchestrateEvent): string | undefined {
  switch (event.type) {
    case EventType.toolStarted:
      return `  > ${event.tool} [${event.callId}] started`;
    case EventType.toolCompleted:
      return `  < ${event.tool} [${event.callId}] ${event.durationMs} ms: ${JSON.stringify(event.result)}`;
    case EventType.toolFailed:
      return `  ! ${event.tool} [${event.callId}] ${event.status}: ${event.error.code} ${event.error.message}`;
    case EventType.toolCancelled:
      return `  x ${event.tool} [${event.callId}] cancelled`;
    default:
      return undefined;
  }
}
