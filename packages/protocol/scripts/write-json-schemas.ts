/**
 * Writes the JSON Schema of every public message into docs/schemas/, generated from the zod schemas
 * so the published contract cannot drift from the code. `--check` fails when the files are stale.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import {
  OrchestrateEventSchema,
  OrchestrateReplySchema,
  OrchestrateRequestSchema,
  ToolsReplySchema,
} from "../src/index.ts";

const OUT_DIR = join(import.meta.dirname, "../../../docs/schemas");
const SCHEMAS = {
  "orchestrate.request": [OrchestrateRequestSchema, "input"],
  "orchestrate.reply": [OrchestrateReplySchema, "output"],
  "orchestrate.event": [OrchestrateEventSchema, "output"],
  "orchestrate.tools.reply": [ToolsReplySchema, "output"],
} as const;

const check = process.argv.includes("--check");
mkdirSync(OUT_DIR, { recursive: true });
let stale = 0;
for (const [name, [schema, io]] of Object.entries(SCHEMAS)) {
  const json = { $id: `${name}.schema.json`, title: name, ...z.toJSONSchema(schema, { io, unrepresentable: "any" }) };
  const text = `${JSON.stringify(json, null, 2)}\n`;
  const file = join(OUT_DIR, `${name}.schema.json`);
  if (check) {
    let current = "";
    try {
      current = readFileSync(file, "utf8");
    } catch {
      // missing counts as stale
    }
    if (current !== text) {
      console.error(`${file} is stale: run npm run schemas`);
      stale++;
    }
  } else {
    writeFileSync(file, text);
    console.log(`wrote ${file}`);
  }
}
process.exitCode = stale > 0 ? 1 : 0;
