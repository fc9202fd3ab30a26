import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { headers } from "@nats-io/transport-node";
import {
  ContentType,
  decode,
  encode,
  eventsSubject,
  Header,
  INTERNAL_SUBJECTS,
  KV_BUCKETS,
  OrchestrateReplySchema,
  PUBLIC_SUBJECTS,
  type OrchestrateReply,
} from "@toolformer/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

describe("malformed requests", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment();
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  async function send(body: Uint8Array, type: ContentType = ContentType.json): Promise<OrchestrateReply> {
    const h = headers();
    h.set("Content-Type", type);
    const reply = await env.client.nc.request(PUBLIC_SUBJECTS.request, body, { headers: h, timeout: 5_000 });
    return OrchestrateReplySchema.parse(decode(reply.data, type));
  }
  const json = (value: unknown) => encode(value, ContentType.json);

  const cases: [string, Uint8Array, string, RegExp][] = [
    ["not JSON", new TextEncoder().encode("{nope"), "INVALID_REQUEST", /not valid JSON/],
    ["not an object", json([1, 2]), "INVALID_REQUEST", /object/],
    ["wrong type of prompt", json({ prompt: 42, model: "fake:echo" }), "INVALID_REQUEST", /prompt/],
    ["unknown field", json({ prompt: "hi", model: "fake:echo", temperature: 2 }), "INVALID_REQUEST", /temperature/],
    [
      "unknown option",
      json({ prompt: "hi", model: "fake:echo", options: { maxparallel: 2 } }),
      "INVALID_REQUEST",
      /maxparallel/,
    ],
    [
      "option out of range",
      json({ prompt: "hi", model: "fake:echo", options: { priority: 10 } }),
      "INVALID_REQUEST",
      /priority/,
    ],
    [
      "negative timeout",
      json({ prompt: "hi", model: "fake:echo", options: { timeoutMs: -1 } }),
      "INVALID_REQUEST",
      /timeoutMs/,
    ],
    [
      "bad strategy",
      json({ prompt: "hi", model: "fake:echo", options: { strategy: "yolo" } }),
      "INVALID_REQUEST",
      /strategy/,
    ],
    ["id breaking the pattern", json({ id: "no spaces!", prompt: "hi", model: "fake:echo" }), "INVALID_REQUEST", /id/],
    ["id with an empty segment", json({ id: "a..b", prompt: "hi", model: "fake:echo" }), "INVALID_REQUEST", /id/],
    [
      "both prompt and messages",
      json({ prompt: "hi", messages: [{ role: "user", content: "x" }], model: "fake:echo" }),
      "INVALID_REQUEST",
      /exactly one/,
    ],
    ["neither prompt nor messages", json({ model: "fake:echo" }), "INVALID_REQUEST", /exactly one/],
    [
      "message with a bad role",
      json({ messages: [{ role: "robot", content: "x" }], model: "fake:echo" }),
      "INVALID_REQUEST",
      /role/,
    ],
    ["model without a provider", json({ prompt: "hi", model: "gpt-4o" }), "UNKNOWN_MODEL", /gpt-4o/],
    ["unconfigured provider", json({ prompt: "hi", model: "nope:model" }), "UNKNOWN_MODEL", /nope:model/],
    [
      "unknown tool",
      json({ prompt: "hi", model: "fake:echo", tools: ["echo", "teleport"] }),
      "UNKNOWN_TOOL",
      /teleport/,
    ],
  ];

  it.each(cases)("rejects %s with a stable code", async (_name, body, code, message) => {
    const reply = await send(body);
    expect(reply.status).toBe("rejected");
    expect(reply.error?.code).toBe(code);
    expect(reply.error?.message).toMatch(message);
    expect(reply.toolCalls).toEqual([]);
  });

  it("names the client's id in a rejection when it could be read", async () => {
    const reply = await send(json({ id: "req-42", prompt: 1, model: "fake:echo" }));
    expect(reply).toMatchObject({ id: "req-42", status: "rejected" });
  });

  it("answers a MessagePack request in MessagePack, rejections included", async () => {
    const bad = await send(encode({ prompt: "hi" }, ContentType.msgpack), ContentType.msgpack);
    expect(bad.error?.code).toBe("INVALID_REQUEST");
    const good = await send(
      encode({ prompt: "hello there", model: "fake:echo" }, ContentType.msgpack),
      ContentType.msgpack,
    );
    expect(good).toMatchObject({ status: "completed", answer: "hello there" });
  });

  it("keeps serving after every kind of bad input", async () => {
    for (const [, body] of cases) await send(body);
    const reply = await env.client.request({ prompt: "still there?", model: "fake:echo" });
    expect(reply).toMatchObject({ status: "completed", answer: "still there?" });
  });

  it("survives hostile messages on the internal subjects and answers a bad permit request with an error", async () => {
    const js = jetstream(env.client.nc);
    const msgpack = headers();
    msgpack.set(Header.contentType, ContentType.msgpack);
    const garbage = [new Uint8Array([0xc1, 0xff, 0x00]), encode({ requestId: 1, calls: "x" }, ContentType.msgpack)];
    for (const body of garbage) {
      await js.publish(INTERNAL_SUBJECTS.exec("echo"), body, { headers: msgpack });
      await js.publish(INTERNAL_SUBJECTS.roundSubmit("evil"), body, { headers: msgpack });
      await js.publish(INTERNAL_SUBJECTS.requestRun("evil"), body, { headers: msgpack });
      await js.publish(eventsSubject("evil"), body);
      env.client.nc.publish(INTERNAL_SUBJECTS.rateLimitPresence, body, { headers: msgpack });
      await js.publish(INTERNAL_SUBJECTS.speculationLearn("evil"), body, { headers: msgpack });
      env.client.nc.publish(INTERNAL_SUBJECTS.speculationPredict, body, { headers: msgpack });
    }
    // A speculation ledger entry that is not one: the request runs as if nothing had been guessed.
    const ledger = await new Kvm(env.client.nc).open(KV_BUCKETS.speculationCalls);
    await ledger.put("after-attack", garbage[1]!);
    // Both the shared subject and a line (a plain subscription, answered the service API's way).
    for (const subject of [INTERNAL_SUBJECTS.rateLimitAcquire, INTERNAL_SUBJECTS.rateLimitLine(7)]) {
      const permit = await env.client.nc.request(subject, garbage[1], { headers: msgpack, timeout: 2_000 });
      expect(permit.headers?.get(Header.serviceErrorCode)).toBe("400");
    }

    env.fake.addScenario("after-attack", {
      turns: [{ toolCalls: [{ name: "echo", arguments: { value: "ok" } }] }, { text: "fine" }],
    });
    const reply = await env.client.request({
      id: "after-attack",
      prompt: "x",
      model: "fake:after-attack",
      options: { speculation: true },
    });
    expect(reply).toMatchObject({
      status: "completed",
      answer: "fine",
      toolCalls: [{ status: "succeeded", result: "ok" }],
    });
  });
});
