import { connectCliClient } from "../local-credentials.ts";
import { ExitCode } from "../exit-codes.ts";

/** Cancels a request wherever it runs; the request's reply says `cancelled` if it was still running. */
export async function runCancelCommand(requestId: string): Promise<number> {
  const client = await connectCliClient();
  try {
    await client.cancel(requestId);
    console.log(`cancel sent for ${requestId}`);
    return ExitCode.completed;
  } finally {
    await client.close();
  }
}
