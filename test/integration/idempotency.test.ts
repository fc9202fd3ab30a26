import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTool, EXAMPLE_TOOLS } from "@toolformer/tools";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

describe("a repeated request id", () => {
  let env: TestEnvironment;
  let sideEffects = 0;
  const charge = defineTool({
    name: "charge_card",
    description: "Charges a card (a side effect counted by the test).",
    parameters: z.object({ cents: z.int() }),
    idempotent: false,
    async run({ cents }) {
      sideEffects++;
      await sleep(200);
      return { charged: cents };
    },
  });
  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, charge],
      waitForTools: ["charge_card"],
      scenarios: {
        pay: { turns: [{ toolCalls: [{ name: "charge_card", arguments: { cents: 500 } }] }, { text: "paid" }] },
      },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it("returns the first reply again and runs nothing twice", async () => {
    const id = `pay-${Date.now()}`;
    const first = await env.client.request({ id, prompt: "pay", model: "fake:pay" });
    expect(first.status).toBe("completed");
    expect(sideEffects).toBe(1);
    const requestsToModel = env.fake.received.length;

    const second = await env.client.request({ id, prompt: "pay", model: "fake:pay" });
    expect(second).toEqual(first);
    expect(sideEffects).toBe(1);
    expect(env.fake.received.length).toBe(requestsToModel);
  });

  it("gives concurrent duplicates the one reply of the one run", async () => {
    const id = `pay-concurrent-${Date.now()}`;
    const before = sideEffects;
    const replies = await Promise.all(
      Array.from({ length: 5 }, () => env.client.request({ id, prompt: "pay", model: "fake:pay" })),
    );
    expect(sideEffects - before).toBe(1);
    for (const reply of replies) expect(reply).toEqual(replies[0]);
    expect(replies[0]?.status).toBe("completed");
  });
});
