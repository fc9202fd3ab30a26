import type { IncomingMessage, ServerResponse } from "node:http";
import type { ToolformerClient } from "@toolformer/client";
import { ApproveMessageSchema } from "@toolformer/protocol";
import { z } from "zod";

/** An approval's body: the reason (at most 4 KiB) and any edited arguments fit well within it. */
export const MAX_APPROVAL_BODY_BYTES = 64 * 1024;

/**
 * `POST /api/requests/<id>/approve` with a JSON `ApproveMessage` (`{callId, decision, reason?, args?}`):
 * sent as is on `orchestrate.approve.<id>` by `approver`, a client allowed to approve. Answers the
 * orchestrator's `ApproveReply`: 200 when the decision was stored, 409 when it was refused (already
 * decided, not waiting, bad arguments); 403 when this dashboard has no approver (it runs with the
 * viewer role only, which may not approve: ADR 0028); 400 for a body off the protocol.
 */
export async function approveFromPage(
  approver: ToolformerClient | undefined,
  requestId: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (!approver)
    return void res
      .writeHead(403)
      .end("this dashboard may not approve: start it with approval credentials (--approve)");
  const body = await readBody(req, MAX_APPROVAL_BODY_BYTES);
  if (body === undefined) return void res.writeHead(413).end("an approval is at most 64 KiB");
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return void res.writeHead(400).end("not JSON");
  }
  const message = ApproveMessageSchema.safeParse(json);
  if (!message.success) return void res.writeHead(400).end(z.prettifyError(message.error));
  const reply = await approver.approve(requestId, message.data);
  res.writeHead(reply.ok ? 200 : 409, { "Content-Type": "application/json" }).end(JSON.stringify(reply));
}

/** The request's body as text, or undefined when it is longer than `maxBytes`. */
async function readBody(req: IncomingMessage, maxBytes: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > maxBytes) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
