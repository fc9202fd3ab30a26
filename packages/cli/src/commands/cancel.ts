import { ToolformerClient } from "@toolformer/client";
import { DEFAULT_NATS_URL } from "@toolformer/runtime";
import { cliCredentials } from "../local-credentials.ts";
import { ExitCode } from "../exit-codes.ts";

/** Cancels a request wherever it runs; the request's reply says `cancelled` if it was still running. */
export async function runCancelCommand(requestId: string): Promise<number> {
  const client = await ToolformerClient.connect(
    process.env.NATS_URL ?? DEFAULT_NATS_URL,
    "toolformer-cli",
    cliCredentials("client"),
  );
  try {
    await client.cancel(requestId);
    console.log(`cancel sent for ${requestId}`);
    return ExitCode.completed;
  } finally {
    await client.close();
  }
}
