/**
 * A tool with a side effect, loaded by executor processes through TF_EXECUTOR_TOOL_MODULES: it works
 * for a while, then writes its call's idempotency key (the call id the orchestrator keeps across
 * redeliveries) to a ledger file unless the key is there already, as a payment API with idempotency
 * keys would. Every start is noted in a second file (`<call id> <pid>`), so a test can see which
 * calls ran again, and which process runs a call now.
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { defineTool } from "@toolformer/tools";

export const ledgerTool = defineTool({
  name: "ledger_write",
  description: "Writes an entry to a ledger, once per idempotency key.",
  parameters: z.object({ ms: z.int().min(0) }),
  idempotent: false,
  async run({ ms }, ctx) {
    const ledger = process.env.LEDGER_FILE!;
    appendFileSync(`${ledger}.starts`, `${ctx.callId} ${process.pid}\n`);
    await sleep(ms, undefined, { signal: ctx.signal });
    const written = existsSync(ledger) && readFileSync(ledger, "utf8").split("\n").includes(ctx.callId);
    if (!written) appendFileSync(ledger, `${ctx.callId}\n`);
    return { key: ctx.callId };
  },
});
