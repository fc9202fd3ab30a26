import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager } from "@nats-io/jetstream";
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import { STREAMS } from "@toolformer/protocol";
import { BaseConfigSchema, startActor, type ActorDefinition } from "@toolformer/runtime";
import { startNatsServer, type NatsServer } from "@toolformer/testing";

const MINUTE_NS = nanos(60_000);

/** An actor that only needs the streams a request's progress is kept in. */
const needsProgressStreams: ActorDefinition = {
  name: "probe",
  serviceName: "probe",
  description: "provisions streams for a test",
  needs: { streams: ["rounds", "results"], buckets: [] },
  start: async () => ({ stop: async () => {} }),
};

describe("provisioning streams an older release made", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
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

    const actor = await startActor(
      needsProgressStreams,
      BaseConfigSchema.parse({ natsUrl: server.url, replicas: 1, logLevel: "silent" }),
    );
    await actor.stop();

    const rounds = (await jsm.streams.info(STREAMS.rounds.name)).config;
    expect(rounds.max_age).toBe(120 * MINUTE_NS);
    expect(rounds.subjects).toEqual(expect.arrayContaining([...STREAMS.rounds.subjects, "tf.legacy.>"]));
    expect((await jsm.streams.info(STREAMS.results.name)).config.max_age).toBe(180 * MINUTE_NS);
  });
});
