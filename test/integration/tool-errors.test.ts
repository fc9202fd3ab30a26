import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NormalizedConversation } from "@toolformer/fake-llm";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

describe("tool failures reach the model, the request goes on", () => {
  let env: TestEnvironment;
  const seenByModel: NormalizedConversation[] = [];
  beforeAll(async () => {
    env = await startEnvironment({
      waitForTools: ["fail", "echo"],
      scenarios: {
        mishaps: (conversation) => {
          seenByModel.push(conversation);
          const hasResults = conversation.messages.some((m) => m.role === "tool");
          if (hasResults) return { text: "recovered" };
          return {
            toolCalls: [
              { name: "teleport", arguments: { to: "mars" } },
              { name: "fail", arguments: { message: "disk on fire" } },
              { name: "echo", arguments: { value: "fine" } },
              { name: "calculator", arguments: { expression: "1 +" } },
            ],
          };
        },
      },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it("marks each failed call with its code and sends every error back as that call's result", async () => {
    const reply = await env.client.request({ prompt: "try things", model: "fake:mishaps" });
    expect(reply.status).toBe("completed");
    expect(reply.answer).toBe("recovered");
    const byTool = Object.fromEntries(reply.toolCalls.map((c) => [c.tool, c]));
    expect(byTool.teleport).toMatchObject({ status: "failed", error: { code: "UNKNOWN_TOOL" }, startedAt: null });
    expect(byTool.fail).toMatchObject({ status: "failed", error: { code: "TOOL_FAILED", message: "disk on fire" } });
    expect(byTool.echo).toMatchObject({ status: "succeeded", result: "fine" });
    expect(byTool.calculator).toMatchObject({ status: "failed", error: { code: "TOOL_FAILED" } });

    const second = seenByModel.at(-1);
    const toolMessages = second?.messages.filter((m) => m.role === "tool") ?? [];
    expect(toolMessages).toHaveLength(4);
    const byName = Object.fromEntries(toolMessages.map((m) => [m.name, m]));
    expect(byName.teleport).toMatchObject({ isError: true });
    expect(byName.teleport?.content).toContain("UNKNOWN_TOOL");
    expect(byName.fail).toMatchObject({ isError: true });
    expect(byName.fail?.content).toContain("disk on fire");
    expect(byName.echo).toMatchObject({ isError: false, content: '"fine"' });
  });

  it("fails a call whose arguments break the tool's schema with INVALID_ARGUMENTS, without running it", async () => {
    env.fake.addScenario("bad-args", {
      turns: [{ toolCalls: [{ name: "sleep", arguments: { ms: "soon" } }] }, { text: "ok" }],
    });
    const reply = await env.client.request({ prompt: "x", model: "fake:bad-args" });
    expect(reply.status).toBe("completed");
    expect(reply.toolCalls[0]).toMatchObject({ status: "failed", error: { code: "INVALID_ARGUMENTS" } });
  });

  it("stops with MAX_ROUNDS_EXCEEDED when the model never stops asking for tools", async () => {
    env.fake.addScenario("loop", () => ({ toolCalls: [{ name: "echo", arguments: { value: 1 } }] }));
    const reply = await env.client.request({ prompt: "x", model: "fake:loop", options: { maxRounds: 3 } });
    expect(reply).toMatchObject({ status: "failed", rounds: 3, error: { code: "MAX_ROUNDS_EXCEEDED" } });
    expect(reply.toolCalls).toHaveLength(3);
  });
});
