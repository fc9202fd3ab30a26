import { describe, expect, it } from "vitest";
import { oversizedParts, REQUEST_LIMITS } from "./request-limits.ts";

describe("request size caps", () => {
  it("lets a request at every cap through", () => {
    const atCap = "a".repeat(REQUEST_LIMITS.maxPromptBytes);
    expect(oversizedParts({ prompt: atCap, system: "s".repeat(REQUEST_LIMITS.maxSystemBytes) })).toEqual([]);
    const messages = Array.from({ length: REQUEST_LIMITS.maxMessages }, () => ({ role: "user" as const, content: "" }));
    expect(oversizedParts({ messages })).toEqual([]);
  });

  it("names each part over its cap, counting UTF-8 bytes rather than characters", () => {
    // 'é' is one character and two bytes: half the cap in characters is exactly the cap in bytes, one more is over.
    const prompt = "é".repeat(REQUEST_LIMITS.maxPromptBytes / 2 + 1);
    const system = "s".repeat(REQUEST_LIMITS.maxSystemBytes + 1);
    expect(oversizedParts({ prompt, system })).toEqual([
      {
        path: "prompt",
        limit: REQUEST_LIMITS.maxPromptBytes,
        actual: REQUEST_LIMITS.maxPromptBytes + 2,
        unit: "bytes",
      },
      {
        path: "system",
        limit: REQUEST_LIMITS.maxSystemBytes,
        actual: REQUEST_LIMITS.maxSystemBytes + 1,
        unit: "bytes",
      },
    ]);
  });

  it("caps messages by count and by their contents together", () => {
    const many = Array.from({ length: REQUEST_LIMITS.maxMessages + 1 }, () => ({
      role: "user" as const,
      content: "x",
    }));
    expect(oversizedParts({ messages: many }).map((part) => part.unit)).toEqual(["messages"]);
    const half = "m".repeat(REQUEST_LIMITS.maxMessagesBytes / 2);
    const big = [
      { role: "user" as const, content: half },
      { role: "assistant" as const, content: `${half}!` },
    ];
    expect(oversizedParts({ messages: big })).toEqual([
      {
        path: "messages",
        limit: REQUEST_LIMITS.maxMessagesBytes,
        actual: REQUEST_LIMITS.maxMessagesBytes + 1,
        unit: "bytes",
      },
    ]);
  });
});
