import { connectCliClient } from "../local-credentials.ts";
import { ExitCode } from "../exit-codes.ts";
import { describe } from "./run.ts";

/** Follows one request's events from its first (replayed, then live) until it ends or Ctrl-C. */
export async function runWatchCommand(options: { requestId: string; json: boolean }): Promise<number> {
  const client = await connectCliClient();
  const stop = new AbortController();
  const onInterrupt = () => stop.abort();
  process.once("SIGINT", onInterrupt);
  try {
    for await (const event of client.events(options.requestId, stop.signal)) {
      const line = options.json ? JSON.stringify(event) : describe(event);
      if (line) console.log(line);
    }
    return stop.signal.aborted ? ExitCode.interrupted : ExitCode.completed;
  } finally {
    process.off("SIGINT", onInterrupt);
    await client.close();
  }
}
