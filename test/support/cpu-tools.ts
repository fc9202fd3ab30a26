/**
 * Tools that burn CPU, hang or exhaust memory, in the executor's worker pool or (for contrast) not.
 * A burn starts `after` ms into the call, so a test can line other work up beside it.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { defineTool } from "@toolformer/tools";

const burn = (ms: number) => {
  const until = Date.now() + ms;
  let x = 0;
  while (Date.now() < until) x += Math.sqrt(x + 1);
  return x;
};
const worker = { module: import.meta.url };

/** Keeps a core busy for `ms`, in the worker pool or on the executor's own thread. */
const burner = (name: string, inWorker: boolean) =>
  defineTool({
    name,
    description: `Keeps a core busy, ${inWorker ? "in the worker pool" : "on the executor's own thread"}.`,
    parameters: z.object({ ms: z.int().min(0), after: z.int().min(0).default(0) }),
    idempotent: false,
    ...(inWorker ? { worker } : {}),
    async run({ ms, after }) {
      await sleep(after);
      burn(ms);
      return { burned: ms };
    },
  });
export const burnInWorker = burner("burn_in_worker", true);
export const burnInline = burner("burn_inline", false);

export const hangInWorker = defineTool({
  name: "hang_in_worker",
  description: "Never returns and never looks at its signal.",
  parameters: z.object({}),
  idempotent: false,
  timeoutMs: 300,
  worker,
  async run() {
    for (;;) burn(1_000);
  },
});

export const hogInWorker = defineTool({
  name: "hog_in_worker",
  description: "Allocates until its 32 MB heap is gone.",
  parameters: z.object({}),
  idempotent: false,
  worker: { ...worker, memoryLimitMb: 32 },
  async run() {
    const kept: number[][] = [];
    for (;;) kept.push(Array.from({ length: 100_000 }, (_, i) => i));
  },
});

export const throwInWorker = defineTool({
  name: "throw_in_worker",
  description: "Fails.",
  parameters: z.object({ n: z.int() }),
  idempotent: false,
  worker,
  async run() {
    throw new Error("worker tool failed on purpose");
  },
});

/** Reports each step as a partial result, from the pool or not. */
const stepper = (name: string, inWorker: boolean) =>
  defineTool({
    name,
    description: "Counts up, reporting each step.",
    parameters: z.object({ steps: z.int().min(1) }),
    idempotent: true,
    ...(inWorker ? { worker } : {}),
    async run({ steps }, ctx) {
      for (let step = 1; step <= steps; step++) await ctx.progress({ step });
      return { steps };
    },
  });
export const steps = stepper("steps", false);
export const stepsInWorker = stepper("steps_in_worker", true);

export const CPU_TOOLS = [burnInWorker, burnInline, hangInWorker, hogInWorker, throwInWorker, steps, stepsInWorker];
