/** A tool whose every call takes its executor process down with it, as a native crash or an OOM kill would. */
import { z } from "zod";
import { defineTool } from "@toolformer/tools";

export const crashTool = defineTool({
  name: "crash_executor",
  description: "Kills the process running it.",
  parameters: z.object({}),
  idempotent: false,
  async run() {
    process.kill(process.pid, "SIGKILL");
    return null;
  },
});
