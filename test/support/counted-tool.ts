/**
 * Tools for shutdown tests, loaded by executor processes through TF_EXECUTOR_TOOL_MODULES: it works for
 * a while and answers with its value; every start is noted (call id and process id) in COUNT_FILE, so a
 * test can see that no call ran twice and which copy ran what.
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { defineTool } from "@toolformer/tools";

export const countedWork = defineTool({
  name: "counted_work",
  description: "Works for `ms` milliseconds and answers with `value`; notes every start.",
  parameters: z.object({ ms: z.int().min(0), value: z.string() }),
  idempotent: false,
  async run({ ms, value }, ctx) {
    appendFileSync(process.env.COUNT_FILE!, `${ctx.callId} ${process.pid}\n`);
    await sleep(ms, undefined, { signal: ctx.signal });
    return { value };
  },
});

/** The same in the executor's worker pool (one thread per executor in the tests), to queue calls for a thread. */
export const countedThreadWork = defineTool({
  name: "counted_thread_work",
  description: "Works for `ms` milliseconds on a worker thread and answers with `value`; notes every start.",
  parameters: z.object({ ms: z.int().min(0), value: z.string() }),
  idempotent: false,
  worker: { module: import.meta.url },
  async run({ ms, value }, ctx) {
    appendFileSync(process.env.COUNT_FILE!, `${ctx.callId} ${process.pid}\n`);
    await sleep(ms, undefined, { signal: ctx.signal });
    return { value };
  },
});

/** The starts noted so far: one `{ callId, pid }` per start. */
export function startsIn(file: string): { callId: string; pid: number }[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [callId, pid] = line.split(" ");
      return { callId: callId!, pid: Number(pid) };
    });
}
