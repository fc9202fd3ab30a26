import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Objm } from "@nats-io/obj";
import { jetstreamManager } from "@nats-io/jetstream";
import { ContentType, decode, Header, INTERNAL_SUBJECTS, STREAMS } from "@toolformer/protocol";
import { EXAMPLE_TOOLS } from "@toolformer/tools";
import { bigResult } from "../support/big-result.ts";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

const MIB = 1024 * 1024;
const plan = (toolCalls: { id?: string; name: string; arguments: unknown }[]) => ({
  turns: [{ toolCalls }, { text: "done" }],
});

describe("large results", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, bigResult],
      results: { maxBytes: 25 * MIB },
      waitForTools: ["big_result", "echo"],
      scenarios: {
        twenty: plan([{ name: "big_result", arguments: { mib: 20 } }]),
        mid: plan([{ id: "mid", name: "big_result", arguments: { mib: 0.2 } }]),
        many: plan(Array.from({ length: 6 }, () => ({ name: "big_result", arguments: { mib: 0.2 } }))),
        thirty: plan([{ name: "big_result", arguments: { mib: 30 } }]),
        passed: plan([
          { id: "huge", name: "big_result", arguments: { mib: 2 } },
          { id: "user", name: "echo", arguments: { value: { $ref: "huge" } } },
        ]),
      },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it("round-trips a 20 MB result through the object store, with the executor's memory bounded", async () => {
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    const reply = await env.client.request({ prompt: "x", model: "fake:twenty" });
    clearInterval(sampler);
    const growthMib = (peak - before) / MIB;
    console.info(`large result: 20 MiB result, process RSS grew by ${growthMib.toFixed(0)} MiB at most`);

    const [call] = reply.toolCalls;
    expect(call).toMatchObject({ status: "succeeded", resultRef: { bucket: "tf_results", bytes: 20 * MIB + 2 } });
    expect(call).not.toHaveProperty("result");
    // Every actor of the stack runs in this process, the tool's own 20 MiB string included.
    expect(growthMib).toBeLessThan(200);

    const store = await new Objm(env.client.nc).open("tf_results");
    const stored = decode((await store.getBlob(call!.resultRef!.name))!, ContentType.json) as string;
    expect(stored.length).toBe(20 * MIB);
    // The model saw the beginning and where the rest is.
    const shown = JSON.stringify(
      env.fake.received.filter((r) => r.scenario === "twenty").at(-1)!.conversation.messages,
    );
    expect(shown).toContain("[truncated: the result is 20971522 bytes");
    expect(shown.length).toBeLessThan(200 * 1024);
  });

  it("carries a mid-size result inline, compressed between actors", async () => {
    const id = `mid-${Date.now()}`;
    const reply = await env.client.request({ id, prompt: "x", model: "fake:mid" });
    expect((reply.toolCalls[0]?.result as string).length).toBe(Math.round(0.2 * MIB));
    const jsm = await jetstreamManager(env.admin);
    const stored = await jsm.streams.getMessage(STREAMS.results.name, {
      last_by_subj: INTERNAL_SUBJECTS.result(id, "mid"),
    });
    expect(stored!.header.get(Header.contentEncoding)).toBe("gzip");
    expect(stored!.data.byteLength).toBeLessThan(10 * 1024);
  });

  it("moves the largest results to the object store when together they would not fit in one reply", async () => {
    const reply = await env.client.request({ prompt: "x", model: "fake:many" });
    expect(reply.status).toBe("completed");
    expect(reply.toolCalls).toHaveLength(6);
    const spilled = reply.toolCalls.filter((call) => call.resultRef);
    expect(spilled.length).toBeGreaterThan(0);
    expect(spilled.length).toBeLessThan(6);
    for (const call of reply.toolCalls) {
      expect(call.status).toBe("succeeded");
      if (!call.resultRef) expect((call.result as string).length).toBe(Math.round(0.2 * MIB));
    }
  });

  it("fails a result over the hard maximum with PAYLOAD_TOO_LARGE", async () => {
    const reply = await env.client.request({ prompt: "x", model: "fake:thirty" });
    expect(reply.toolCalls[0]).toMatchObject({ status: "failed", error: { code: "PAYLOAD_TOO_LARGE" } });
    expect(reply.toolCalls[0]?.error?.message).toContain(`at most ${25 * MIB}`);
  });

  it("refuses to pass a result kept in the object store as another call's arguments", async () => {
    const reply = await env.client.request({ prompt: "x", model: "fake:passed" });
    const byId = Object.fromEntries(reply.toolCalls.map((call) => [call.id, call]));
    expect(byId.huge).toMatchObject({ status: "succeeded", resultRef: { bytes: 2 * MIB + 2 } });
    expect(byId.user).toMatchObject({ status: "failed", error: { code: "PAYLOAD_TOO_LARGE" }, startedAt: null });
  });
});
