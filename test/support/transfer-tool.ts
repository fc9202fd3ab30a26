import { z } from "zod";
import { defineTool, type TypeScriptTool } from "@toolformer/tools";

/** One run of the transfer tool, as the tool itself saw it. */
export interface Transfer {
  callId: string;
  to: string;
  amount: number;
}

/**
 * A tool with side effects whose transfers of 100 or more wait for approval (a policy on its
 * arguments), for at most `approvalTimeoutMs` when given; every run is kept, in order, with the call
 * id and the arguments it ran with: the tool's own record, which a test compares with what it approved.
 */
export function transferTool(options: { name?: string; approvalTimeoutMs?: number } = {}): {
  tool: TypeScriptTool;
  transfers: Transfer[];
} {
  const transfers: Transfer[] = [];
  const tool = defineTool({
    name: options.name ?? "transfer",
    description: "Sends money; 100 or more needs a person's approval.",
    parameters: z.object({ to: z.string(), amount: z.number().min(0) }),
    idempotent: false,
    approval: {
      when: { type: "object", properties: { amount: { type: "number", minimum: 100 } }, required: ["amount"] },
      ...(options.approvalTimeoutMs === undefined ? {} : { timeoutMs: options.approvalTimeoutMs }),
    },
    async run({ to, amount }, ctx) {
      transfers.push({ callId: ctx.callId, to, amount });
      return { sent: amount, to };
    },
  });
  return { tool, transfers };
}
