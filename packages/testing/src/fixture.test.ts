import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { publishStored } from "@toolformer/runtime";
import { startNatsCluster } from "./cluster.ts";
import { startNatsServer } from "./nats-server.ts";
import { isAlive } from "./processes.ts";

const alive = (pid: number | undefined) => pid !== undefined && isAlive(pid);

describe("startNatsServer", () => {
  it("serves JetStream, keeps port and file store across a restart, and leaves no process behind", async () => {
    await using server = await startNatsServer();
    const pid = server.pid;
    const nc = await server.connect("admin", { maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "KEEP", subjects: ["keep.>"] });
    await jetstream(nc).publish("keep.one", "hello");

    const reconnected = (async () => {
      for await (const status of nc.status()) if (status.type === "reconnect") return;
    })();
    await server.restart();
    expect(server.pid).not.toBe(pid);
    await reconnected;
    const info = await (await jetstreamManager(nc)).streams.info("KEEP");
    expect(info.state.messages).toBe(1);
    await nc.close();

    const last = server.pid;
    await server.stop();
    expect(alive(last)).toBe(false);
    await server.stop(); // stopping twice (here and on dispose) is harmless
  });
});

describe("startNatsCluster", () => {
  it("runs R3 streams and keeps serving them across a node restart", async () => {
    await using cluster = await startNatsCluster({ size: 3 });
    expect(cluster.urls).toHaveLength(3);
    const nc = await cluster.connect("admin", { maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "R3", subjects: ["r3.>"], num_replicas: 3 });
    const js = jetstream(nc);
    await js.publish("r3.a", "1");
    await cluster.restartNode(1);
    // The first publish after the restart may meet the stream's leader election or the client's
    // reconnect (no responders, a timeout): published as the actors publish, tried again with its id.
    await publishStored(js, "r3.b", new TextEncoder().encode("2"), { msgID: "r3-b", giveUpAt: Date.now() + 20_000 });
    expect((await jsm.streams.info("R3")).state.messages).toBe(2);
    expect((await jsm.streams.info("R3")).cluster?.replicas).toHaveLength(2);
    // A durable nobody pulls is named with its backlog; one with nothing to do is left out.
    await jsm.consumers.add("R3", { durable_name: "unread", ack_policy: AckPolicy.Explicit });
    await jsm.consumers.add("R3", { durable_name: "idle", filter_subject: "r3.none", ack_policy: AckPolicy.Explicit });
    // A new durable may be led by the restarted node, whose replica still catches up on the second message.
    for (let tries = 0; (await jsm.consumers.info("R3", "unread")).num_pending < 2; tries++) {
      if (tries === 200) throw new Error("the durable did not count both messages within 10 s");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await cluster.describeBacklogs()).toMatch(
      /^R3\/unread \(leader \S+_n\d\): 2 pending, 0 unacked, 0 pulls waiting, delivered up to 0, acked up to 0$/,
    );
    await nc.close();
  }, 60_000);

  it("waits until every stream leads again after the quorum came back, and says when one does not", async () => {
    await using cluster = await startNatsCluster({ size: 3 });
    await cluster.killNode(1);
    await cluster.killNode(2);
    await expect(cluster.untilEveryStreamLeads(1_000)).rejects.toThrow(/still without a leader after 1000 ms/);
    await Promise.all([cluster.startNode(1), cluster.startNode(2)]);
    await cluster.untilEveryStreamLeads(120_000);
    const nc = await cluster.connect("admin");
    const jsm = await jetstreamManager(nc);
    const streams = [];
    for await (const stream of jsm.streams.list()) streams.push(stream);
    expect(streams.length).toBeGreaterThan(5); // the provisioned streams and buckets
    for (const stream of streams) expect(stream.cluster?.leader, stream.config.name).toBeTruthy();
    await nc.close();
  }, 180_000);
});
