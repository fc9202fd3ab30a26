import { describe, expect, it } from "vitest";
import { toolLine } from "./tools.ts";

const tool = { name: "t", description: "Does t.", parameters: {}, source: "mcp" } as const;

describe("toolLine", () => {
  it("says what may be done with the tool's calls: read-only, idempotent, or side effects", () => {
    expect(toolLine({ ...tool, readOnly: true, idempotent: true })).toMatch(/\[mcp, read-only\]$/);
    expect(toolLine({ ...tool, readOnly: false, idempotent: true })).toMatch(/\[mcp, idempotent\]$/);
    expect(toolLine({ ...tool, readOnly: false, idempotent: false })).toMatch(/\[mcp, side effects\]$/);
  });

  it("adds destructive where the tool declares it, and the rate limit", () => {
    expect(toolLine({ ...tool, readOnly: false, idempotent: true, destructive: true })).toMatch(
      /\[mcp, idempotent, destructive\]$/,
    );
    expect(toolLine({ ...tool, readOnly: false, idempotent: false, destructive: false })).toMatch(
      /\[mcp, side effects\]$/,
    );
    expect(toolLine({ ...tool, readOnly: true, idempotent: true, rateLimit: { limit: 5, intervalMs: 1000 } })).toMatch(
      /^t {20}Does t\. {2}\[mcp, read-only, max 5\/1000ms\]$/,
    );
  });
});
