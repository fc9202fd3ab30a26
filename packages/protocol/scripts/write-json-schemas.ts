/**
 * Writes the published contract's documents, generated from the zod schemas so they cannot drift from
 * the code: the JSON Schema of every public message into docs/schemas/, and docs/asyncapi.json.
 * `--check` fails when a file is stale.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { asyncApiDocument, jsonSchemaDocuments } from "./public-schemas.ts";

const DOCS = join(import.meta.dirname, "../../../docs");
const documents: Record<string, unknown> = {
  ...Object.fromEntries(Object.entries(jsonSchemaDocuments()).map(([file, schema]) => [join("schemas", file), schema])),
  "asyncapi.json": asyncApiDocument(),
};

const check = process.argv.includes("--check");
mkdirSync(join(DOCS, "schemas"), { recursive: true });
let stale = 0;
for (const [path, document] of Object.entries(documents)) {
  const text = `${JSON.stringify(document, null, 2)}\n`;
  const file = join(DOCS, path);
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
