import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import specs from "@asyncapi/specs";
import { OrchestrateRequestSchema } from "@toolformer/protocol";

const DOCS = join(import.meta.dirname, "..", "..", "docs");
const published = (path: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(DOCS, path), "utf8")) as Record<string, unknown>;

describe("the published AsyncAPI document", () => {
  it("is a valid AsyncAPI 3.0.0 document, by the specification's own JSON Schema", () => {
    // The specification bundles JSON Schema draft 7 itself, so Ajv must not add its own copy.
    const ajv = new Ajv({ strict: false, allErrors: true, meta: false, validateSchema: false });
    const validate = ajv.compile(specs.schemas["3.0.0"] as object);
    const document = published("asyncapi.json");
    expect(validate(document), ajv.errorsText(validate.errors)).toBe(true);
    // The validator bites: AsyncAPI 2's `publish` is no action in 3.0.
    const operations = document.operations as Record<string, Record<string, unknown>>;
    const wrong = { ...document, operations: { ...operations, cancel: { ...operations.cancel, action: "publish" } } };
    expect(validate(wrong)).toBe(false);
  });

  it("names every public subject of the protocol", () => {
    const channels = published("asyncapi.json").channels as Record<string, { address: string | null }>;
    expect(Object.values(channels).map((c) => c.address)).toEqual(
      expect.arrayContaining([
        "orchestrate.request",
        "orchestrate.events.{requestId}",
        "orchestrate.cancel.{requestId}",
        "orchestrate.tools",
        "orchestrate.call.cancel.{tool}",
        "orchestrate.replay.{requestId}",
      ]),
    );
  });
});

describe("the published JSON Schema of orchestrate.request", () => {
  const validate = new Ajv2020({ strict: false }).compile(published("schemas/orchestrate.request.schema.json"));
  const base = { model: "fake:demo" };
  const raceGroups = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`g${i}`, ["t"]]));
  const cases: [string, unknown][] = [
    ["a prompt", { ...base, prompt: "hi" }],
    ["messages", { ...base, messages: [{ role: "user", content: "hi" }] }],
    ["both prompt and messages", { ...base, prompt: "hi", messages: [{ role: "user", content: "hi" }] }],
    ["neither prompt nor messages", base],
    ["a dotted id", { ...base, prompt: "hi", id: "order.1234" }],
    ["an id with an empty segment", { ...base, prompt: "hi", id: "order..1234" }],
    ["an id that starts with a dot", { ...base, prompt: "hi", id: ".order" }],
    ["an id that ends with a dot", { ...base, prompt: "hi", id: "order." }],
    ["64 race groups", { ...base, prompt: "hi", options: { race: raceGroups(64) } }],
    ["65 race groups", { ...base, prompt: "hi", options: { race: raceGroups(65) } }],
    ["an unknown field", { ...base, prompt: "hi", colour: "blue" }],
  ];

  it.each(cases)("agrees with the code's own validation on %s", (_name, request) => {
    const accepted = OrchestrateRequestSchema.safeParse(request).success;
    expect(validate(request)).toBe(accepted);
  });

  it("refuses what the code refuses for rules beyond types (a check that the cases above reach them)", () => {
    expect(validate({ ...base, prompt: "hi", messages: [{ role: "user", content: "hi" }] })).toBe(false);
    expect(validate({ ...base, prompt: "hi", id: "order..1234" })).toBe(false);
    expect(validate({ ...base, prompt: "hi", options: { race: raceGroups(65) } })).toBe(false);
  });
});
