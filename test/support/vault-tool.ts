/**
 * A tool whose arguments carry secrets, marked the two ways docs/tools.md describes: this project's
 * `x-sensitive` and the standard `writeOnly`. Loaded by executor processes through
 * TF_EXECUTOR_TOOL_MODULES; it never returns what it was given.
 */
import { z } from "zod";
import { defineTool } from "@toolformer/tools";

export const vaultTool = defineTool({
  name: "vault_read",
  description: "Reads an entry of a vault that the given password and PIN open.",
  parameters: z.object({
    path: z.string(),
    password: z.string().meta({ "x-sensitive": true }),
    pin: z.string().meta({ writeOnly: true }),
  }),
  readOnly: true,
  idempotent: true,
  async run({ path }) {
    return { path, opened: true };
  },
});
