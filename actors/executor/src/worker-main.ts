/**
 * One thread of the executor's worker pool: loads a tool's module, runs one call at a time, and
 * answers on its port. Validation happens here too, so a call fails exactly as in the main thread.
 */
import { parentPort } from "node:worker_threads";
import { z } from "zod";
import type { ToolLogger, TypeScriptTool } from "@toolformer/tools";

export type ToWorker =
  | {
      kind: "run";
      module: string;
      tool: string;
      args: unknown;
      ctx: { deadline: number; requestId: string; callId: string; attempt: number };
    }
  | { kind: "abort"; reason: string };
export type FromWorker =
  | { kind: "result"; value: unknown }
  | { kind: "error"; message: string; invalidArguments: boolean }
  | { kind: "log"; level: "debug" | "info" | "warn" | "error"; obj: object; msg?: string | undefined }
  | { kind: "progress"; partial: unknown };

const port = parentPort!;
let controller = new AbortController();

async function findTool(module: string, name: string): Promise<TypeScriptTool> {
  const exported: Record<string, unknown> = await import(module);
  const tool = Object.values(exported)
    .flatMap((value) => (Array.isArray(value) ? value : [value]))
    .find((value): value is TypeScriptTool => (value as TypeScriptTool | null)?.name === name);
  if (!tool) throw new Error(`${module} does not export the tool ${name}`);
  return tool;
}

const post = (message: FromWorker) => port.postMessage(message);
const log = (level: "debug" | "info" | "warn" | "error") => (obj: object, msg?: string) =>
  post({ kind: "log", level, obj, msg });
const logger: ToolLogger = { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };

port.on("message", (message: ToWorker) => {
  if (message.kind === "abort") return controller.abort(new Error(message.reason));
  controller = new AbortController();
  void (async () => {
    try {
      const tool = await findTool(message.module, message.tool);
      const parsed = tool.parameters.safeParse(message.args);
      if (!parsed.success)
        return post({
          kind: "error",
          message: `invalid arguments: ${z.prettifyError(parsed.error)}`,
          invalidArguments: true,
        });
      const progress = async (partial: unknown) => post({ kind: "progress", partial });
      const value = await tool.run(parsed.data, { ...message.ctx, signal: controller.signal, log: logger, progress });
      post({ kind: "result", value: value ?? null });
    } catch (error) {
      post({ kind: "error", message: error instanceof Error ? error.message : String(error), invalidArguments: false });
    }
  })();
});
