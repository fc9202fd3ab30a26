import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { headers, type NatsConnection } from "@nats-io/transport-node";
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
import { publishRefused, requestRefused } from "../support/denials.ts";
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

  it("denies a client every internal subject: the server refuses the injection before any validation", async () => {
    const nc = env.client.nc;
    const js = jetstream(nc);
    const msgpack = headers();
    msgpack.set(Header.contentType, ContentType.msgpack);
    const body = encode({ requestId: 1, calls: "x" }, ContentType.msgpack);
    for (const subject of [
      INTERNAL_SUBJECTS.exec("echo"),
      INTERNAL_SUBJECTS.roundSubmit("evil"),
      INTERNAL_SUBJECTS.requestRun("evil"),
      INTERNAL_SUBJECTS.speculationLearn("evil"),
      eventsSubject("evil"),
    ]) {
      expect(await requestRefused(() => js.publish(subject, body, { headers: msgpack }), subject), subject).toBe(true);
    }
    for (const subject of [INTERNAL_SUBJECTS.rateLimitPresence, INTERNAL_SUBJECTS.speculationPredict])
      expect(await publishRefused(nc, subject), subject).toBe(true);
    const ledger = await new Kvm(nc).open(KV_BUCKETS.speculationCalls);
    const entry = `$KV.${KV_BUCKETS.speculationCalls}.after-attack`;
    expect(await requestRefused(() => ledger.put("after-attack", body), entry)).toBe(true);
    for (const subject of [INTERNAL_SUBJECTS.rateLimitAcquire, INTERNAL_SUBJECTS.rateLimitLine(7)])
      expect(await requestRefused(() => nc.request(subject, body, { timeout: 2_000 }), subject), subject).toBe(true);
  });

  it("survives garbage from an actor that may write the internal subjects, and answers a bad permit request with an error", async () => {
    // Past the permissions, validation still stands: a buggy or older copy of an actor cannot break another.
    const writers = await Promise.all(
      (["scheduler", "dispatcher", "speculation"] as const).map((role) => env.nats.connect(role)),
    );
    const [scheduler, dispatcher, speculation] = writers as [NatsConnection, NatsConnection, NatsConnection];
    try {
      const msgpack = headers();
      msgpack.set(Header.contentType, ContentType.msgpack);
      const garbage = [new Uint8Array([0xc1, 0xff, 0x00]), encode({ requestId: 1, calls: "x" }, ContentType.msgpack)];
      for (const body of garbage) {
        await jetstream(scheduler).publish(INTERNAL_SUBJECTS.exec("echo"), body, { headers: msgpack });
        await jetstream(dispatcher).publish(INTERNAL_SUBJECTS.roundSubmit("evil"), body, { headers: msgpack });
        await jetstream(dispatcher).publish(INTERNAL_SUBJECTS.requestRun("evil"), body, { headers: msgpack });
        await jetstream(dispatcher).publish(eventsSubject("evil"), body);
        await jetstream(dispatcher).publish(INTERNAL_SUBJECTS.speculationLearn("evil"), body, { headers: msgpack });
        dispatcher.publish(INTERNAL_SUBJECTS.speculationPredict, body, { headers: msgpack });
      }
      // A speculation ledger entry that is not one: the request runs as if nothing had been guessed.
      const ledger = await new Kvm(speculation).open(KV_BUCKETS.speculationCalls);
      await ledger.put("after-attack", garbage[1]!);
      // Both the shared subject and a line (a plain subscription, answered the service API's way).
      for (const subject of [INTERNAL_SUBJECTS.rateLimitAcquire, INTERNAL_SUBJECTS.rateLimitLine(7)]) {
        const permit = await dispatcher.request(subject, garbage[1], { headers: msgpack, timeout: 2_000 });
        expect(permit.headers?.get(Header.serviceErrorCode)).toBe("400");
      }
    } finally {
      await Promise.all(writers.map((nc) => nc.close()));
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

  it("drops a request whose reply subject is not an inbox, rather than publishing there", async () => {
    // The dispatcher may write the request queue: a reply aimed at it would queue whatever the reply says.
    const hijack = INTERNAL_SUBJECTS.requestRun("hijack");
    const heard: string[] = [];
    const watch = env.admin.subscribe(hijack, { callback: (_error, msg) => void heard.push(msg.subject) });
    await env.admin.flush();
    const h = headers();
    h.set("Content-Type", ContentType.json);
    env.client.nc.publish(PUBLIC_SUBJECTS.request, json({ id: "aimed", prompt: "hi", model: "fake:echo" }), {
      reply: hijack,
      headers: h,
    });
    // The same request with an inbox is answered (and the dropped one was read before it).
    const reply = await send(json({ id: "aimed-at-inbox", prompt: "hi", model: "fake:echo" }));
    expect(reply.status).toBe("completed");
    const record = await (await new Kvm(env.admin).open(KV_BUCKETS.requests)).get("aimed");
    watch.unsubscribe();
    expect(heard).toEqual([]);
    expect(record).toBeNull();
  });
});
