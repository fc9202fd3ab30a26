import { Worker } from "node:worker_threads";
import { ErrorCode, TerminalError } from "@toolformer/protocol";
import type { ToolContext } from "@toolformer/tools";
import { NotStartedError } from "./abort-reasons.ts";
import type { FromWorker, ToWorker } from "./worker-main.ts";

const WORKER_SCRIPT = new URL("./worker-main.ts", import.meta.url);
/** How long a worker gets to stop after its call is aborted before it is terminated and replaced. */
export const WORKER_ABORT_GRACE_MS = 200;

export interface WorkerJob {
  module: string;
  tool: string;
  args: unknown;
  memoryLimitMb?: number | undefined;
}

interface Idle {
  worker: Worker;
  memoryLimitMb: number | undefined;
}

/**
 * Threads for CPU-heavy TypeScript tools, so their work never blocks the actor's event loop. One call
 * per thread at a time, at most `size` threads, kept warm between calls (per memory limit). A call
 * that throws fails alone; one that does not stop within a grace after its signal fires (timeout,
 * cancel), or that exhausts its memory limit, has its thread terminated and fails alone.
 */
export class WorkerPool {
  readonly #size: number;
  readonly #idle: Idle[] = [];
  readonly #waiting: (() => void)[] = [];
  #busy = 0;
  #refusing = false;

  constructor(size: number) {
    this.#size = size;
  }

  async run(job: WorkerJob, ctx: ToolContext): Promise<unknown> {
    while (this.#busy >= this.#size && !this.#refusing)
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    if (this.#refusing) throw new NotStartedError();
    this.#busy++;
    const index = this.#idle.findIndex((idle) => idle.memoryLimitMb === job.memoryLimitMb);
    const worker =
      index >= 0
        ? this.#idle.splice(index, 1)[0]!.worker
        : new Worker(WORKER_SCRIPT, {
            ...(job.memoryLimitMb === undefined
              ? {}
              : { resourceLimits: { maxOldGenerationSizeMb: job.memoryLimitMb } }),
          });
    // A thread that answered (with a result or the tool's own error) is fine and serves again.
    let answered = false;
    try {
      const answer = await this.#call(worker, job, ctx);
      answered = true;
      if (answer.kind === "result") return answer.value;
      throw answer.invalidArguments
        ? new TerminalError(ErrorCode.INVALID_ARGUMENTS, answer.message)
        : new Error(answer.message);
    } finally {
      if (answered) this.#idle.push({ worker, memoryLimitMb: job.memoryLimitMb });
      else void worker.terminate();
      this.#busy--;
      this.#waiting.shift()?.();
    }
  }

  /**
   * This executor is stopping: calls still waiting for a thread, and any asking from now on, are refused
   * with NotStartedError (and handed back); calls on a thread run to their end.
   */
  refuseWaiting(): void {
    this.#refusing = true;
    for (const wake of this.#waiting.splice(0)) wake();
  }

  async close(): Promise<void> {
    await Promise.all(this.#idle.splice(0).map(({ worker }) => worker.terminate()));
  }

  /** The thread's answer; rejects only when the thread itself failed (memory, exit, ignored abort). */
  #call(worker: Worker, job: WorkerJob, ctx: ToolContext): Promise<WorkerAnswer> {
    return new Promise((resolve, reject) => {
      let graceTimer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(graceTimer);
        ctx.signal.removeEventListener("abort", onAbort);
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
      };
      const onMessage = (message: FromWorker) => {
        if (message.kind === "log") return ctx.log[message.level](message.obj, message.msg);
        if (message.kind === "progress") return void ctx.progress(message.partial).catch(() => undefined);
        done();
        resolve(message);
      };
      const onError = (error: Error & { code?: string }) => {
        done();
        reject(
          error.code === "ERR_WORKER_OUT_OF_MEMORY"
            ? new TerminalError(ErrorCode.TOOL_FAILED, `the tool ran out of its ${job.memoryLimitMb} MB memory limit`)
            : error,
        );
      };
      const onExit = () => {
        done();
        reject(new TerminalError(ErrorCode.TOOL_FAILED, "the tool's worker thread exited"));
      };
      const onAbort = () => {
        worker.postMessage({ kind: "abort", reason: String(ctx.signal.reason) } satisfies ToWorker);
        // A tool stuck in a loop never reads the abort: end its thread.
        graceTimer = setTimeout(() => {
          done();
          reject(ctx.signal.reason as Error);
        }, WORKER_ABORT_GRACE_MS);
      };
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
      if (ctx.signal.aborted) return onAbort();
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      const { deadline, requestId, callId, attempt } = ctx;
      worker.postMessage({
        kind: "run",
        module: job.module,
        tool: job.tool,
        args: job.args,
        ctx: { deadline, requestId, callId, attempt },
      } satisfies ToWorker);
    });
  }
}

type WorkerAnswer = Extract<FromWorker, { kind: "result" | "error" }>;
