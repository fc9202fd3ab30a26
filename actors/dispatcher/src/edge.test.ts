import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { errors } from "@nats-io/nats-core";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ContentType,
  decode,
  encode,
  INTERNAL_SUBJECTS,
  KV_BUCKETS,
  MESSAGE_IDS,
  OrchestrateRequestSchema,
  PUBLIC_SUBJECTS,
  STREAMS,
  subjectToken,
  type OrchestrateReply,
  type RequestRecord,
  newTraceparent,
  type RequestRun,
} from "@toolformer/protocol";
import { createProviderRegistry } from "@toolformer/providers";
import { createLogger, encodeInternal, bind, publishStored, type Provisioned } from "@toolformer/runtime";
import { startNatsServer, type NatsServer } from "@toolformer/testing";
import { acceptRequest, type FrontDoorContext } from "./edge.ts";
import { RequestReader } from "./edge-limits.ts";
import { ToolCatalog } from "./tool-catalog.ts";

/**
 * A JetStream client whose first publish is stored but its acknowledgement lost, as when the stream's
 * leader dies right after storing it: the front door then tries again and hears "duplicate".
 */
function losingFirstAck(js: JetStreamClient): JetStreamClient {
  let lost = false;
  const lossy = Object.create(js) as JetStreamClient;
  lossy.publish = async (...args) => {
    const ack = await js.publish(...args);
    if (lost) return ack;
    lost = true;
    throw new errors.TimeoutError();
  };
  return lossy;
}

/**
 * A bucket whose watches cannot be made: each try times out, as while a node's death leaves the bucket's
 * stream without a leader to create the watch's consumer. Its keys can still be read.
 */
function holdingUpWatches(kv: KV): KV {
  const held = Object.create(kv) as KV;
  held.watch = () => Promise.reject(new errors.TimeoutError());
  return held;
}

describe("the front door, when a retried queue write finds the id already queued", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let provisioned: Provisioned;
  const log = createLogger("dispatcher", "edge-test", "silent");
  const providers = createProviderRegistry({ fake: { baseURL: "http://127.0.0.1:9/v1" } });
  const catalog = new ToolCatalog(log);

  beforeAll(async () => {
    server = await startNatsServer();
    // The dispatcher's role: it queues runs and writes their records.
    nc = await server.connect("dispatcher");
    provisioned = await bind(nc, { streams: ["requests"], buckets: ["requests"] });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  /** Sends a request to the front door on its own inbox, with the first queue write's ack lost (by default). */
  function frontDoor(id: string, inbox: string, { loseFirstAck = true, watchesHeldUp = false } = {}) {
    const replies: OrchestrateReply[] = [];
    const msg = {
      subject: PUBLIC_SUBJECTS.request,
      data: encode({ id, model: "fake:any", prompt: "hello" }, ContentType.json),
      headers: undefined,
      reply: inbox,
      respond: (data: Uint8Array) => replies.push(decode(data, ContentType.json) as OrchestrateReply) > 0,
    };
    const js = loseFirstAck ? losingFirstAck(jetstream(nc)) : jetstream(nc);
    const ctx: FrontDoorContext = { nc, js, jsm: provisioned.jsm, log };
    const deps = {
      requests: watchesHeldUp ? holdingUpWatches(provisioned.kv.requests!) : provisioned.kv.requests!,
      catalog,
      providers,
      reader: new RequestReader(),
      tenantPolicies: {},
    };
    const accepted = acceptRequest(msg, ctx, deps, new AbortController().signal);
    return { replies, accepted };
  }

  /** A copy of the request queued by another front door, answering `inbox`. */
  async function queueElsewhere(id: string, inbox: string): Promise<RequestRun> {
    const run: RequestRun = {
      requestId: id,
      deadline: Date.now() + 60_000,
      traceparent: newTraceparent(),
      attempt: 1,
      request: OrchestrateRequestSchema.parse({ id, model: "fake:any", prompt: "hello" }),
      replyTo: inbox,
      replyEncoding: ContentType.json,
      acceptedAt: Date.now(),
    };
    await publishStored(jetstream(nc), INTERNAL_SUBJECTS.requestRun(id), encodeInternal(run), {
      msgID: MESSAGE_IDS.requestRun(id),
      giveUpAt: Date.now() + 10_000,
    });
    return run;
  }

  /** What the runner of the stored copy writes when it has finished and replied to that copy's inbox. */
  const finishRun = (id: string, reply: OrchestrateReply, repliedTo: string) => {
    const record: RequestRecord = { state: "finished", reply, repliedTo };
    return provisioned.kv.requests!.put(subjectToken(id), encodeInternal(record));
  };

  const storedRuns = async (id: string) =>
    (await provisioned.jsm.streams.info(STREAMS.requests.name, { subjects_filter: INTERNAL_SUBJECTS.requestRun(id) }))
      .state.subjects?.[INTERNAL_SUBJECTS.requestRun(id)] ?? 0;

  it("answers its client with the first run's reply when another front door's copy was stored", async () => {
    const id = `resent-${Date.now()}`;
    // The client's first send, queued by another front door with the inbox the client has since left.
    const firstSend = await queueElsewhere(id, "_INBOX.first-send");
    const resend = frontDoor(id, "_INBOX.second-send");
    const reply = { id, status: "completed", text: "from the one run", rounds: 1 } as unknown as OrchestrateReply;
    await finishRun(id, reply, firstSend.replyTo!);
    await resend.accepted;
    expect(resend.replies).toEqual([reply]);
    expect(await storedRuns(id)).toBe(1);
  });

  it("leaves a publish handed over by a stopping front door, whose copy is queued, to that copy's runner", async () => {
    const id = `handed-over-${Date.now()}`;
    await queueElsewhere(id, "_INBOX.handed-over");
    const taken = frontDoor(id, "_INBOX.handed-over", { loseFirstAck: false });
    // Done without waiting for the run's reply (a front door that answered would wait for it).
    await taken.accepted;
    expect(taken.replies).toEqual([]);
  });

  it("stays silent when the stored copy is its own, which the runner answers", async () => {
    const id = `own-${Date.now()}`;
    const send = frontDoor(id, "_INBOX.only-send");
    await send.accepted;
    expect(send.replies).toEqual([]);
    expect(await storedRuns(id)).toBe(1);
  });

  it("answers a repeat though the watch of the record goes silent: the server lost its consumer", async () => {
    const id = `silent-watch-${Date.now()}`;
    const firstSend = await queueElsewhere(id, "_INBOX.first-send");
    const resend = frontDoor(id, "_INBOX.second-send", { loseFirstAck: false });
    // The repeat waits for the record's reply through a watch: its consumer is lost, as when it was made
    // while a node died and the stream's leader moved.
    const bucketStream = `KV_${KV_BUCKETS.requests}`;
    const watchers = async () =>
      (await provisioned.jsm.consumers.list(bucketStream).next()).filter((c) =>
        c.config.filter_subject?.endsWith(subjectToken(id)),
      );
    await expect.poll(async () => (await watchers()).length, { timeout: 5_000, interval: 20 }).toBe(1);
    for (const watcher of await watchers()) await provisioned.jsm.consumers.delete(bucketStream, watcher.name);
    const reply = { id, status: "completed", text: "from the one run", rounds: 1 } as unknown as OrchestrateReply;
    await finishRun(id, reply, firstSend.replyTo!);
    await expect.poll(() => resend.replies, { timeout: 5_000, interval: 20 }).toEqual([reply]);
    await resend.accepted;
  });

  it("answers a repeat as soon as its record holds the reply, while the watch of the record cannot be made", async () => {
    const id = `held-up-watch-${Date.now()}`;
    const firstSend = await queueElsewhere(id, "_INBOX.first-send");
    const resend = frontDoor(id, "_INBOX.second-send", { loseFirstAck: false, watchesHeldUp: true });
    const reply = { id, status: "completed", text: "from the one run", rounds: 1 } as unknown as OrchestrateReply;
    await finishRun(id, reply, firstSend.replyTo!);
    // The watch's making is tried for a minute; the record is read every second meanwhile.
    await expect.poll(() => resend.replies, { timeout: 5_000, interval: 20 }).toEqual([reply]);
    await resend.accepted;
  });
});
