import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DiscardPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { KV_BUCKETS, STREAMS } from "@toolformer/protocol";
import { BaseConfigSchema, DEFAULT_STORAGE_LIMITS, provision, startActor } from "@toolformer/runtime";
import { schedulerActor } from "@toolformer/scheduler";
import { startNatsServer, type NatsServer } from "@toolformer/testing";

const MINUTE_NS = nanos(60_000);
const MIB = 1024 * 1024;

describe("provisioning streams an older release made", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  beforeAll(async () => {
    server = await startNatsServer({ provision: false });
    nc = await server.connect("admin");
    jsm = await jetstreamManager(nc);
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it("keeps messages longer and adds subjects, but never shortens the age or drops a subject", async () => {
    // As an older release left them: rounds kept 60 min with one subject fewer, results kept 3 h.
    const [firstSubject] = STREAMS.rounds.subjects;
    await jsm.streams.add({
      name: STREAMS.rounds.name,
      subjects: [firstSubject, "tf.legacy.>"],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: 60 * MINUTE_NS,
    });
    await jsm.streams.add({
      name: STREAMS.results.name,
      subjects: [...STREAMS.results.subjects],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: 180 * MINUTE_NS,
    });

    await provision(nc, { replicas: 1 });

    const rounds = (await jsm.streams.info(STREAMS.rounds.name)).config;
    expect(rounds.max_age).toBe(120 * MINUTE_NS);
    expect(rounds.subjects).toEqual(expect.arrayContaining([...STREAMS.rounds.subjects, "tf.legacy.>"]));
    expect((await jsm.streams.info(STREAMS.results.name)).config.max_age).toBe(180 * MINUTE_NS);
  });

  it("caps every stream and bucket, applies changed caps when run again, and keeps work rather than dropping it", async () => {
    const caps = (maxBytes: number) => ({
      streams: { exec: { maxBytes, maxMsgs: 1_000 } },
      buckets: { requests: { maxBytes, maxMsgs: -1 } },
    });
    await provision(nc, { replicas: 1, limits: caps(64 * MIB) });
    const exec = (await jsm.streams.info(STREAMS.exec.name)).config;
    expect(exec).toMatchObject({ max_bytes: 64 * MIB, max_msgs: 1_000, discard: DiscardPolicy.New });
    expect((await jsm.streams.info(`KV_${KV_BUCKETS.requests}`)).config.max_bytes).toBe(64 * MIB);
    // The rest get the defaults; only the events may make room by dropping their oldest.
    const events = (await jsm.streams.info(STREAMS.events.name)).config;
    expect(events).toMatchObject({
      max_bytes: DEFAULT_STORAGE_LIMITS.streams.events.maxBytes,
      discard: DiscardPolicy.Old,
    });

    await provision(nc, { replicas: 1, limits: caps(32 * MIB) });
    expect((await jsm.streams.info(STREAMS.exec.name)).config.max_bytes).toBe(32 * MIB);
    expect((await jsm.streams.info(`KV_${KV_BUCKETS.requests}`)).config.max_bytes).toBe(32 * MIB);
  });
});

describe("an actor started before provisioning", () => {
  it("fails, naming the step it waits for, and never makes a stream itself", async () => {
    await using server = await startNatsServer({ provision: false });
    const start = startActor(
      schedulerActor({ maxConcurrentRounds: 1 }),
      BaseConfigSchema.parse({ natsUrl: server.url, natsAuth: server.credentials("scheduler"), logLevel: "silent" }),
    );
    await expect(start).rejects.toThrow(
      /TF_ROUNDS is not provisioned \(run `toolformer provision` with the admin role\)/,
    );
    const admin = await server.connect("admin");
    expect(await (await jetstreamManager(admin)).streams.names().next()).toEqual([]);
    await admin.close();
  }, 30_000);
});
