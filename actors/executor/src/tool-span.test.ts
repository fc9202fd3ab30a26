import { describe, expect, it } from "vitest";
import { REDACTED } from "@toolformer/protocol";
import { MAX_TOOL_CONTENT_CHARS, toolContent, toolSpanStart } from "./tool-span.ts";

describe("a tool call's span attributes (GenAI conventions)", () => {
  it("names the span after the tool and carries the call id, the tool type and the try", () => {
    const call = { tool: "search", callId: "c7", requestId: "r1", speculative: false };
    expect(toolSpanStart(call, 2)).toEqual({
      name: "execute_tool search",
      attributes: {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "search",
        "gen_ai.tool.call.id": "c7",
        "gen_ai.tool.type": "function",
        "toolformer.request.id": "r1",
        "toolformer.call.attempt": 2,
      },
    });
    expect(toolSpanStart({ ...call, speculative: true }, 1).attributes["toolformer.call.speculative"]).toBe(true);
  });

  it("redacts what the tool's schema marks sensitive, as events do, and cuts long content", () => {
    const parameters = {
      type: "object",
      properties: { user: { type: "string" }, password: { type: "string", "x-sensitive": true } },
    };
    expect(JSON.parse(toolContent({ user: "ada", password: "hunter2" }, parameters))).toEqual({
      user: "ada",
      password: REDACTED,
    });
    const long = toolContent("x".repeat(MAX_TOOL_CONTENT_CHARS * 2), undefined);
    expect(long.length).toBe(MAX_TOOL_CONTENT_CHARS + 1);
  });
});
