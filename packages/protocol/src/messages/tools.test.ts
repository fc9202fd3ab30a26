import { describe, expect, it } from "vitest";
import { ToolDefinitionSchema, ToolsReplySchema } from "./tools.ts";

const written = { name: "search", description: "", parameters: {}, source: "remote" } as const;

describe("a tool's readOnly and idempotent", () => {
  it("reads a definition written before readOnly existed as not read-only, whatever its idempotent", () => {
    expect(ToolDefinitionSchema.parse({ ...written, idempotent: true })).toMatchObject({
      readOnly: false,
      idempotent: true,
    });
    const { tools } = ToolsReplySchema.parse({ tools: [{ ...written, idempotent: true }] });
    expect(tools[0]).toMatchObject({ readOnly: false, idempotent: true });
  });

  it("refuses a read-only definition that is not idempotent", () => {
    const parsed = ToolDefinitionSchema.safeParse({ ...written, readOnly: true, idempotent: false });
    expect(parsed.error?.issues[0]).toMatchObject({
      path: ["idempotent"],
      message: "a read-only tool is idempotent too",
    });
  });
});
