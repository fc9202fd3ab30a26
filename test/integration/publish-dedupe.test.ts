import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { errors, headers, type NatsConnection } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import { ContentType, decode, KV_BUCKETS, kvStreamName } from "@toolformer/protocol";
import { KvCasStore, lastStored, publishStored, retryUntil } from "@toolformer/runtime";
import { startNatsCluster, streamLeaderNode, type NatsCluster } from "@toolformer/testing";

const TWO_MINUTES_NS = 120_000_000_000;

/** The node (index) that leads `stream` now. */
async function leaderOf(jsm: JetStreamManager, cluster: NatsCluster, stream: string): Promise<number> {
  const node = await streamLeaderNode(jsm, cluster, stream);
  if (node < 0) throw new Error(`${stream} has no leader`);
  return node;
}

/**
 * `js`, except that its first publish is stored but answered with a timeout, a second after the store:
 * what a writer sees when the leader that stored its message dies before it answers.
 */
function losingFirstAnswer(js: JetStreamClient, lost: { count: number }): JetStreamClient {
  return new Proxy(js, {
    get(target, property) {
      if (property !== "publish") return Reflect.get(target, property, target);
      return async (...args: Parameters<JetStreamClient["publish"]>) => {
        const ack = await target.publish(...args);
        if (lost.count > 0) return ack;
        lost.count++;
        await sleep(1_000);
        throw new errors.TimeoutError();
      };
    },
  });
}

describe("writes retried through a leader election on a 3-node cluster", () => {
  let cluster: NatsCluster;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  const prefix = `dedupe_${randomBytes(3).toString("hex")}`;
  const retry = () => ({ giveUpAt: retryUntil(Date.now() + 30_000) });

  beforeAll(async () => {
    cluster = await startNatsCluster({ size: 3 });
    nc = await cluster.connect("admin", { maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
  }, 60_000);
  afterAll(async () => {
    await nc?.close();
    await cluster?.stop();
  });

  it("stores a message once when it is sent again after its ack was lost, also once its leader has died", async () => {
    const stream = `${prefix}_S`;
    await jsm.streams.add({
      name: stream,
      subjects: [`${prefix}.>`],
      num_replicas: 3,
      duplicate_window: TWO_MINUTES_NS,
    });
    const subject = `${prefix}.result`;

    // Stored, but the publisher never heard: what a publish that timed out after the leader stored it leaves.
    const h = headers();
    h.set("Nats-Msg-Id", "req:call");
    nc.publish(subject, "first", { headers: h });
    await nc.flush();
    const again = await publishStored(js, subject, new TextEncoder().encode("second"), {
      msgID: "req:call",
      ...retry(),
    });
    expect(again.duplicate).toBe(true);

    // The same message once more while the stream elects a new leader: tried until stored, stored once.
    const victim = await leaderOf(jsm, cluster, stream);
    await cluster.killNode(victim);
    const afterDeath = await publishStored(js, subject, new TextEncoder().encode("third"), {
      msgID: "req:call",
      ...retry(),
    });
    expect(afterDeath).toMatchObject({ duplicate: true, seq: again.seq });

    const { state } = await jsm.streams.info(stream);
    expect(state.messages).toBe(1);
    const stored = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    expect(new TextDecoder().decode(stored!.data)).toBe("first");
    await cluster.startNode(victim);
  }, 90_000);

  const ADDS_PER_KEY = 50;
  const KILL_AFTER_ADDS = 20;
  // Four writers of four keys: on a server before 2.9.21 the store checks the whole stream's last
  // sequence, so they conflict with each other all the time. (Writers of one key racing across the
  // election can lose an update there: docs/rate-limits.md.)
  it("applies every compare-and-set exactly once while the bucket's leader dies in the middle", async () => {
    const bucket = `${prefix}_counts`;
    const kv = await new Kvm(nc).create(bucket, { replicas: 3, history: 1 });
    // Counted for a failure's message: it failed once on 2.10.27 (a count applied twice) and never again
    // in 56 runs, and whether the store met a conflict then says which path doubled it.
    const operations: Record<string, number> = {};
    const countOperation = (operation: string) => void (operations[operation] = (operations[operation] ?? 0) + 1);
    const store = await KvCasStore.open({ nc, js, jsm }, kv, countOperation);
    const add = (key: string) =>
      store.update<number, void>(key, 0, (count) => ({ next: count + 1, result: undefined }), {
        retry: { giveUpAt: Date.now() + 30_000 },
      });

    const victim = await leaderOf(jsm, cluster, `KV_${bucket}`);
    const keys = ["a", "b", "c", "d"];
    let landed = 0;
    let leaderKilled: () => void = () => {};
    const killed = new Promise<void>((resolve) => (leaderKilled = resolve));
    const adders = keys.map(async (key) => {
      for (let i = 0; i < ADDS_PER_KEY; i++) {
        await add(key);
        // Kill the leader once the updates are well under way (servers from 2.9.21 take ~1 ms each).
        if (++landed === KILL_AFTER_ADDS) void cluster.killNode(victim).then(leaderKilled);
      }
    });
    await Promise.all(adders);
    await killed;

    for (const key of keys) {
      const entry = await lastStored(jsm, `KV_${bucket}`, `$KV.${bucket}.${key}`, retry());
      expect(decode(entry!.data, ContentType.msgpack), `${key}, store ${JSON.stringify(operations)}`).toBe(
        ADDS_PER_KEY,
      );
    }
    await cluster.startNode(victim);
  }, 90_000);

  // What a new leader does with a write whose first try it has not applied yet (ADR 0042): it passes
  // the retry, which finds no record of the message id, to a refusal once the first try is applied. Made
  // here by hand: the first try is stored but its answer never reaches the writer, and the retry comes
  // after the stream has forgotten the id (a duplicate window of 200 ms). The writer is the rate limiter,
  // on its own bucket and with its own role, which may not look streams up.
  it("applies a compare-and-set once when its retry is refused because its own unanswered try was stored", async () => {
    const stream = kvStreamName(KV_BUCKETS.rateLimits);
    const { config } = await jsm.streams.info(stream);
    await jsm.streams.update(stream, { ...config, duplicate_window: 200_000_000 });
    const limiter = await cluster.connect("rate-limiter");
    try {
      const answersLost = { count: 0 };
      const kv = await new Kvm(limiter).open(KV_BUCKETS.rateLimits);
      const clients = {
        nc: limiter,
        js: losingFirstAnswer(jetstream(limiter), answersLost),
        jsm: await jetstreamManager(limiter),
      };
      const store = await KvCasStore.open(clients, kv);
      const add = () =>
        store.update<number, void>("own-try", 0, (count) => ({ next: count + 1, result: undefined }), {
          retry: retry(),
        });

      await add();
      await add();

      expect(answersLost.count).toBe(1);
      const entry = await lastStored(jsm, stream, `$KV.${KV_BUCKETS.rateLimits}.own-try`, retry());
      expect(decode(entry!.data, ContentType.msgpack)).toBe(2);
    } finally {
      await limiter.close();
    }
  }, 30_000);

  // 80 requests closing their speculation at once, each a key of its own: where every key conflicts
  // with every other (servers before 2.9.21), one store's updates raced each other and some gave up
  // after 50 conflicts. The second store stands for another process writing meanwhile.
  it("lands every one of many concurrent updates of different keys, from one store and from another", async () => {
    const bucket = `${prefix}_many`;
    const kv = await new Kvm(nc).create(bucket, { replicas: 3, history: 1 });
    const [mine, other] = await Promise.all([
      KvCasStore.open({ nc, js, jsm }, kv),
      KvCasStore.open({ nc, js, jsm }, kv),
    ]);
    const add = (store: KvCasStore, key: string) =>
      store.update<number, void>(key, 0, (count) => ({ next: count + 1, result: undefined }), { retry: retry() });
    await Promise.all([
      ...Array.from({ length: 80 }, (_, i) => add(mine, `mine${i}`)),
      ...Array.from({ length: 20 }, (_, i) => add(other, `other${i}`)),
    ]);
    const { state } = await jsm.streams.info(`KV_${bucket}`);
    expect(state.messages).toBe(100);
  }, 90_000);
});
