import { z } from "zod";
import { defineTool } from "@toolformer/tools";

const MIB = 1024 * 1024;

/** A tool whose result is a string of `mib` MiB: large results, spilled to the object store. */
export const bigResult = defineTool({
  name: "big_result",
  description: "Returns a string of the given size.",
  parameters: z.object({ mib: z.number().positive() }),
  idempotent: true,
  async run({ mib }) {
    return "x".repeat(Math.round(mib * MIB));
  },
});
