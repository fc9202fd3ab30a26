import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { publishConfirmed, publishStored } from "@toolformer/runtime";
import { startNatsCluster, streamLeaderNode, type NatsCluster } from "@toolformer/testing";

/** The JetStream client's own request timeout (`jetstream(nc)` without options): what a lost try used to cost. */
const CLIENT_TIMEOUT_MS = 5_000;

/** The node (index) a stream's leader runs on. */
async function leaderOf(jsm: JetStreamManager, cluster: NatsCluster, stream: string): Promise<number> {
  const node = await streamLeaderNode(jsm, cluster, stream);
  if (node < 0) throw new Error(`${stream} has no leader`);
  return node;
}

/** Stops a process (SIGSTOP) and waits until every one of its threads has stopped (Linux /proc). */
async function frozen(pid: number): Promise<void> {
  process.kill(pid, "SIGSTOP");
  const stopped = () =>
    readdirSync(`/proc/${pid}/task`).every((task) =>
      /\) [tT] /.test(readFileSync(`/proc/${pid}/task/${task}/stat`, "utf8")),
    );
  while (!stopped()) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** A client connected to node `index` first, which moves to the other nodes when that one dies. */
async function connectThrough(cluster: NatsCluster, index: number): Promise<NatsConnection> {
  const others = cluster.urls.filter((_, i) => i !== index);
  const nc = await cluster.connect("admin", {
    servers: [cluster.urls[index]!, ...others],
    noRandomize: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
  expect(nc.info?.server_name).toMatch(new RegExp(`_n${index}$`));
  return nc;
}

/**
 * Issue 15: a publish in flight on a connection whose node dies is never answered, and the client
 * reconnects to another node at once; the try used to wait out the client's whole 5 s timeout before it
 * was sent again, and so did a record (a call's result) behind it.
 */
describe("a write whose try was lost with the publisher's node", () => {
  let cluster: NatsCluster;
  const prefix = `lost_${randomBytes(3).toString("hex")}`;

  beforeAll(async () => {
    cluster = await startNatsCluster({ size: 3 });
  }, 60_000);
  afterAll(async () => cluster?.stop());

  it("is sent again through another node after its own try timeout, before the client's would end", async () => {
    const stream = `${prefix}_S`;
    const subject = `${prefix}.result`;
    const setup = await cluster.connect("admin");
    const setupJsm = await jetstreamManager(setup);
    await setupJsm.streams.add({ name: stream, subjects: [`${prefix}.>`], num_replicas: 3 });
    // The publisher's node is one of the stream's followers: its death leaves the stream a leader.
    const leader = await leaderOf(setupJsm, cluster, stream);
    await setup.close();
    const publishersNode = (leader + 1) % cluster.nodes.length;
    const others = cluster.urls.filter((_, i) => i !== publishersNode);
    // What is stored is read through the nodes that live on (a reconnecting client would lose the read too).
    const reader = await cluster.connect("admin", { servers: others });
    const nc = await connectThrough(cluster, publishersNode);
    try {
      const publisherNodePid = cluster.nodes[publishersNode]!.pid!;
      // Frozen, the node takes the first try into its socket and never reads it; killed, it loses it.
      await frozen(publisherNodePid);
      const startedAt = Date.now();
      const stored = publishStored(jetstream(nc), subject, new TextEncoder().encode("result"), {
        msgID: "req:call",
        // Tries stop before the client's own timeout could end the lost one: only a shorter try gets through.
        giveUpAt: startedAt + CLIENT_TIMEOUT_MS - 200,
        // Shorter than the default, so a slow machine has seconds of margin before giveUpAt.
        tryTimeout: { firstTimeoutMs: 500, maxTimeoutMs: CLIENT_TIMEOUT_MS },
      });
      await new Promise((resolve) => setImmediate(resolve));
      await cluster.killNode(publishersNode);

      const ack = await stored;
      expect(ack).toMatchObject({ stream, seq: 1, retried: true });
      expect(nc.info?.server_name).not.toMatch(new RegExp(`_n${publishersNode}$`));
      // Stream info is answered by the stream's leader; the account info a manager asks for first needs
      // the meta leader, which may have been the node just killed.
      const { state } = await (await jetstreamManager(reader, { checkAPI: false })).streams.info(stream);
      expect(state.messages).toBe(1);
    } finally {
      await nc.close();
      await reader.close();
    }
  }, 30_000);
});

/**
 * Issue 15: a dispatcher's reply is a core NATS publish; one written into the socket of a node that
 * then died was lost, and the client waited out its whole timeout for an answer the record held.
 */
describe("a reply published to a node that dies", () => {
  let cluster: NatsCluster;
  const subject = `lost_${randomBytes(3).toString("hex")}.reply`;

  beforeAll(async () => {
    cluster = await startNatsCluster({ size: 3 });
  }, 60_000);
  afterAll(async () => cluster?.stop());

  it("is lost when only published, and published again after the reconnect when confirmed", async () => {
    const publishersNode = 0;
    const others = cluster.urls.slice(1);
    const receiver = await cluster.connect("admin", { servers: others });
    const received: string[] = [];
    receiver.subscribe(subject, { callback: (_, msg) => void received.push(msg.string()) });
    await receiver.flush();
    const nc = await connectThrough(cluster, publishersNode);
    try {
      // The receiver's interest has reached the publisher's node when a probe gets through.
      await vi.waitFor(
        () => {
          nc.publish(subject, "probe");
          expect(received).toContain("probe");
        },
        { timeout: 10_000, interval: 50 },
      );
      await nc.flush();

      await frozen(cluster.nodes[publishersNode]!.pid!);
      nc.publish(subject, "plain");
      const confirmed = publishConfirmed(nc, () => nc.publish(subject, "confirmed"), { giveUpAt: Date.now() + 10_000 });
      await new Promise((resolve) => setImmediate(resolve));
      await cluster.killNode(publishersNode);

      await confirmed;
      await vi.waitFor(() => expect(received).toContain("confirmed"), { timeout: 10_000, interval: 20 });
      expect(nc.info?.server_name).not.toMatch(new RegExp(`_n${publishersNode}$`));
      expect(received.filter((text) => text !== "probe")).toEqual(["confirmed"]);
    } finally {
      await nc.close();
      await receiver.close();
    }
  }, 30_000);
});
