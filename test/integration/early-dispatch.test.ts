import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ContentType,
  decode,
  EventType,
  INTERNAL_SUBJECTS,
  type OrchestrateEvent,
  type RoundAdd,
  type RoundSubmit,
} from "@toolformer/protocol";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

const CALLS = 8;

describe("early dispatch of streamed tool calls", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      waitForTools: ["sleep"],
      scenarios: {
        // A model that takes its time writing eight calls, as real ones do (~60 ms a call here); the
        // first calls are the slow ones (a search, then quick lookups), so starting them early pays.
        eight: {
          turns: [
            {
              toolCalls: Array.from({ length: CALLS }, (_, i) => ({
                name: "sleep",
                arguments: { ms: 800 - 90 * i, value: `call number ${i}` },
              })),
              timeToFirstTokenMs: 50,
              tokensPerSecond: 150,
            },
            { text: "done" },
          ],
        },
        // A turn that arrives whole (the fake model's default: no delay between calls).
        whole: {
          turns: [
            {
              toolCalls: Array.from({ length: CALLS }, (_, i) => ({
                name: "sleep",
                arguments: { ms: 10, value: `call number ${i}` },
              })),
            },
            { text: "done" },
          ],
        },
      },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  async function run(earlyDispatch: boolean) {
    const id = `early-${earlyDispatch}-${Date.now()}`;
    const reply = await env.client.request({ id, prompt: "x", model: "fake:eight", options: { earlyDispatch } });
    const events: OrchestrateEvent[] = [];
    for await (const event of env.client.events(id)) events.push(event);
    const at = (type: string) => events.find((e) => e.type === type)?.at ?? Number.NaN;
    const responded = events.find((e) => e.type === EventType.modelResponded && e.round === 1)?.at ?? Number.NaN;
    return { reply, accepted: at(EventType.requestAccepted), firstStart: at(EventType.toolStarted), responded };
  }

  it("starts the first tool while the model is still writing, and saves time", async () => {
    await run(true); // warm-up
    const early = await run(true);
    const late = await run(false);
    for (const { reply } of [early, late]) {
      expect(reply.status).toBe("completed");
      expect(reply.toolCalls.map((c) => (c.result as { value: string }).value)).toEqual(
        Array.from({ length: CALLS }, (_, i) => `call number ${i}`),
      );
    }
    // With early dispatch the first call started well before the model's response ended...
    expect(early.firstStart).toBeLessThan(early.responded - 100);
    // ...without it, only after.
    expect(late.firstStart).toBeGreaterThanOrEqual(late.responded);
    const earlyFirst = early.firstStart - early.accepted;
    const lateFirst = late.firstStart - late.accepted;
    expect(earlyFirst).toBeLessThan(lateFirst);
    // The slow first call overlapped the rest of the stream instead of following it.
    expect(early.reply.timings.totalMs).toBeLessThan(late.reply.timings.totalMs);
    console.log(
      `time to first tool start: ${earlyFirst} ms early vs ${lateFirst} ms without (ratio ${(earlyFirst / lateFirst).toFixed(2)}); ` +
        `request ${early.reply.timings.totalMs} ms vs ${late.reply.timings.totalMs} ms`,
    );
  });

  it("opens the round with every call the stream already held: a turn that arrives whole is one message", async () => {
    const id = `whole-${Date.now()}`;
    const heard: { subject: string; calls: string[] }[] = [];
    const sub = env.admin.subscribe(INTERNAL_SUBJECTS.wildcard, {
      callback: (_error, msg) => {
        if (!msg.subject.includes(id)) return;
        if (msg.subject === INTERNAL_SUBJECTS.roundSubmit(id)) {
          const submit = decode(msg.data, ContentType.msgpack) as RoundSubmit;
          heard.push({ subject: "submit", calls: submit.calls.map((c) => c.callId) });
        } else if (msg.subject === INTERNAL_SUBJECTS.roundAdd(id, 1)) {
          const add = decode(msg.data, ContentType.msgpack) as RoundAdd;
          heard.push({ subject: add.sealTotal === undefined ? "add" : "seal", calls: add.calls.map((c) => c.callId) });
        }
      },
    });
    await env.admin.flush();
    try {
      const reply = await env.client.request({
        id,
        prompt: "x",
        model: "fake:whole",
        options: { earlyDispatch: true },
      });
      expect(reply.status).toBe("completed");
      const callIds = reply.toolCalls.map((c) => c.id);
      expect(callIds).toHaveLength(CALLS);
      // All eight in the submit, in the model's order; the seal adds nothing.
      expect(heard).toEqual([
        { subject: "submit", calls: callIds },
        { subject: "seal", calls: [] },
      ]);
    } finally {
      sub.unsubscribe();
    }
  });
});
