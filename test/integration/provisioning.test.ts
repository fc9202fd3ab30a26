import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager } from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { STREAMS } from "@toolformer/protocol";
import { provision } from "@toolformer/runtime";
import { startNatsServer, type NatsServer } from "@toolformer/testing";

const MINUTE_NS = nanos(60_000);

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
});
