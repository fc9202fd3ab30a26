import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

describe("on a 3-node JetStream cluster with R3 streams", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({ cluster: true, waitForTools: ["get_weather", "calculator"] });
  }, 60_000);
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it("runs a request end to end", async () => {
    const reply = await env.client.request({ prompt: "weather and maths", model: "fake:demo" });
    expect(reply.status).toBe("completed");
    expect(reply.toolCalls).toHaveLength(3);
    expect(reply.answer).toContain("42");
  });
});
