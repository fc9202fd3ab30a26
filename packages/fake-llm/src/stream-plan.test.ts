import { describe, expect, it } from "vitest";
import { planPieces } from "./stream-plan.ts";

describe("planPieces", () => {
  it("streams text, then each call's start, argument slices that join to its JSON, and end", () => {
    const pieces = planPieces(
      {
        text: "The answer is coming up shortly.",
        toolCalls: [
          { name: "a", arguments: { city: "Paris", days: 3 } },
          { name: "b", arguments: {} },
        ],
      },
      "call_",
    );
    expect(
      pieces
        .filter((p) => p.kind === "text")
        .map((p) => (p.kind === "text" ? p.text : ""))
        .join(""),
    ).toBe("The answer is coming up shortly.");
    const kinds = pieces.filter((p) => p.kind !== "text").map((p) => `${p.kind}:${"index" in p ? p.index : ""}`);
    expect(kinds[0]).toBe("toolStart:0");
    expect(kinds.indexOf("toolEnd:0")).toBeLessThan(kinds.indexOf("toolStart:1"));
    const args0 = pieces.flatMap((p) => (p.kind === "toolArgs" && p.index === 0 ? [p.json] : [])).join("");
    expect(JSON.parse(args0)).toEqual({ city: "Paris", days: 3 });
  });
});
