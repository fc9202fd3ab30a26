import { describe, expect, it } from "vitest";
import { ToolCallAssembly } from "./tool-call-assembly.ts";
import type { ModelToolCall } from "./types.ts";

describe("ToolCallAssembly", () => {
  it("reports a call as soon as its arguments form a complete object, once", () => {
    const heard: ModelToolCall[] = [];
    const assembly = new ToolCallAssembly((call) => heard.push(call));
    assembly.start(0, "a", "search");
    assembly.append(0, '{"q": "cats", "n"');
    expect(heard).toEqual([]);
    assembly.append(0, ": 3}");
    expect(heard).toEqual([{ id: "a", name: "search", arguments: '{"q": "cats", "n": 3}' }]);
    assembly.append(0, " ");
    assembly.end(0);
    expect(heard).toHaveLength(1);
  });

  it("reports an earlier call when a later one starts, and every call at the end", () => {
    const heard: string[] = [];
    const assembly = new ToolCallAssembly((call) => heard.push(call.id));
    assembly.start(0, "a", "x");
    assembly.append(0, '{"unterminated": "}');
    assembly.start(1, "b", "y");
    expect(heard).toEqual(["a"]);
    assembly.append(1, "{");
    expect(assembly.finish().map((c) => [c.id, c.arguments])).toEqual([
      ["a", '{"unterminated": "}'],
      ["b", "{"],
    ]);
    expect(heard).toEqual(["a", "b"]);
  });
});
