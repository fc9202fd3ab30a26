import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import {
  ContentType,
  decode,
  INTERNAL_SUBJECTS,
  KV_BUCKETS,
  MESSAGE_IDS,
  newTraceparent,
  OrchestrateRequestSchema,
  RequestStatus,
  SpeculationLedgerSchema,
  subjectToken,
  type OrchestrateReply,
  type RequestRecord,
  type RequestRun,
  type SpeculationLedger,
} from "@toolformer/protocol";
import { encodeInternal, internalHeaders } from "@toolformer/runtime";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

/**
 * What a dispatcher leaves when it is killed right after storing a request's reply: the reply in the
 * request's record, its speculation ledger entry not yet ended, and the request still queued. The
 * dispatcher that takes the request over must finish both jobs without running anything.
 */
describe("a request whose reply was stored by a dispatcher that died before it sent it", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment();
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  it("is answered with the stored reply, and its speculation is ended", async () => {
    const nc = env.admin;
    const id = `stored-${Date.now()}`;
    const key = subjectToken(id);
    const kvm = new Kvm(nc);
    const requests = await kvm.open(KV_BUCKETS.requests);
    const ledgers = await kvm.open(KV_BUCKETS.speculationCalls);
    const stored: OrchestrateReply = {
      id,
      status: RequestStatus.completed,
      answer: "stored before the kill",
      toolCalls: [],
      rounds: 0,
      timings: { acceptedAt: 1, completedAt: 2, totalMs: 1, modelMs: 1, toolsMs: 0 },
    };
    const finished: RequestRecord = { state: "finished", reply: stored };
    await requests.put(key, encodeInternal(finished));
    const open: SpeculationLedger = { ended: false, rounds: { "1": { closed: false, calls: {} } } };
    await ledgers.put(key, encodeInternal(open));

    const inbox = nc.subscribe(`_INBOX.stored.${key}`, { max: 1 });
    const run: RequestRun = {
      requestId: id,
      deadline: Date.now() + 30_000,
      traceparent: newTraceparent(),
      attempt: 1,
      request: OrchestrateRequestSchema.parse({ id, prompt: "x", model: "fake:echo", options: { speculation: true } }),
      replyTo: inbox.getSubject(),
      replyEncoding: ContentType.json,
      acceptedAt: Date.now(),
    };
    await jetstream(nc).publish(INTERNAL_SUBJECTS.requestRun(id), encodeInternal(run), {
      msgID: MESSAGE_IDS.requestRun(id),
      headers: internalHeaders(run),
    });

    for await (const msg of inbox) expect(decode(msg.data, ContentType.json)).toEqual(stored);
    // The ledger's entry as it changes, until it says the request ended (the test's timeout bounds the wait).
    let ended = false;
    for await (const entry of await ledgers.watch({ key })) {
      if (entry.operation !== "PUT") continue;
      ended = SpeculationLedgerSchema.parse(decode(entry.value, ContentType.msgpack)).ended;
      if (ended) break;
    }
    expect(ended).toBe(true);
    expect(env.fake.received).toHaveLength(0);
  }, 20_000);
});
