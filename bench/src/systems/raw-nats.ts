import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, type JsMsg } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { connectionOptions, type NatsAuth } from "@toolformer/client";
import { pack, unpack } from "msgpackr";

/**
 * The physical limit: the message hops one orchestrated request makes, done with bare NATS and no
 * logic. Per request: request/reply in and out, an idempotency KV create and get, the run, round and
 * round-done JetStream publishes with their consumes, a stored-result lookup, a KV put of the reply,
 * and six events; per call: the exec and result publishes with their consumes and three events.
 */
export interface RawPipeline {
  /**
   * `callEvents: false` leaves out the three events of each call (two stored writes per call instead of
   * five): what the hops would cost if a call's events were not stored one by one.
   */
  request(id: string, calls: number, options?: { callEvents?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

const run = (handler: (msg: JsMsg) => Promise<void>) => async (messages: AsyncIterable<JsMsg>) => {
  for await (const msg of messages) void handler(msg);
};

/** The baseline runs as the test server's admin: it makes its own streams, as the orchestrator's admin would. */
export async function startRawPipeline(url: string, auth: NatsAuth): Promise<RawPipeline> {
  const connections: NatsConnection[] = [];
  const open = async () => {
    const nc = await connect(connectionOptions(url, auth));
    connections.push(nc);
    return nc;
  };
  const admin = await open();
  const jsm = await jetstreamManager(admin);
  await jsm.streams.add({
    name: "RAW_WORK",
    subjects: ["raw.run.>", "raw.round.>", "raw.exec.>"],
    retention: RetentionPolicy.Workqueue,
  });
  await jsm.streams.add({ name: "RAW_LOG", subjects: ["raw.ev.>", "raw.res.>", "raw.done.>"] });
  for (const [name, filter] of [
    ["run", "raw.run.>"],
    ["round", "raw.round.>"],
    ["exec", "raw.exec.>"],
  ] as const) {
    await jsm.consumers.add("RAW_WORK", {
      durable_name: name,
      filter_subject: filter,
      ack_policy: AckPolicy.Explicit,
      max_ack_pending: 20_000,
    });
  }

  // edge: request in, claim the id, accepted event, queue the run
  const edge = await open();
  const edgeJs = jetstream(edge);
  const edgeKv = await new Kvm(edge).create("raw_kv", { history: 1 });
  edge.subscribe("raw.request", {
    queue: "edge",
    callback: (_e, msg) => {
      const body = unpack(msg.data) as { id: string; k: number; e: boolean };
      void (async () => {
        await edgeKv.create(body.id, pack({ state: "running" }));
        await edgeJs.publish(`raw.ev.${body.id}`, pack({ type: "accepted" }));
        await edgeJs.publish(`raw.run.${body.id}`, pack({ ...body, reply: msg.reply }));
      })();
    },
  });

  // runner: two model turns' events around one round, then the reply
  const runner = await open();
  const runnerJs = jetstream(runner);
  const runnerJsm = await jetstreamManager(runner);
  const runnerKv = await new Kvm(runner).open("raw_kv");
  const runs = await (await runnerJs.consumers.get("RAW_WORK", "run")).consume({ max_messages: 1000 });
  void run(async (msg) => {
    const body = unpack(msg.data) as { id: string; k: number; e: boolean; reply: string };
    await runnerKv.get(body.id);
    await runnerJs.publish(`raw.ev.${body.id}`, pack({ type: "model.requested" }));
    await runnerJs.publish(`raw.ev.${body.id}`, pack({ type: "model.responded" }));
    const done = runner.subscribe(`raw.done.${body.id}`, { max: 1 });
    await runnerJsm.streams.getMessage("RAW_LOG", { last_by_subj: `raw.done.${body.id}` });
    await runnerJs.publish(`raw.round.${body.id}`, pack(body));
    for await (const _m of done) break;
    await runnerJs.publish(`raw.ev.${body.id}`, pack({ type: "model.requested" }));
    await runnerJs.publish(`raw.ev.${body.id}`, pack({ type: "model.responded" }));
    await runnerKv.put(body.id, pack({ state: "finished" }));
    runner.publish(body.reply, pack({ ok: true }));
    await runnerJs.publish(`raw.ev.${body.id}`, pack({ type: "completed" }));
    msg.ack();
  })(runs);

  // scheduler: hand out every call, collect every result, report the round
  const scheduler = await open();
  const schedulerJs = jetstream(scheduler);
  const rounds = await (await schedulerJs.consumers.get("RAW_WORK", "round")).consume({ max_messages: 1000 });
  void run(async (msg) => {
    const body = unpack(msg.data) as { id: string; k: number; e: boolean };
    const results = scheduler.subscribe(`raw.res.${body.id}.>`, { max: body.k });
    for (let c = 0; c < body.k; c++) {
      if (body.e) await schedulerJs.publish(`raw.ev.${body.id}`, pack({ type: "scheduled" }));
      await schedulerJs.publish(`raw.exec.${body.id}`, pack({ id: body.id, c, e: body.e }));
    }
    for await (const _m of results) {
      // drain until k results arrived
    }
    await schedulerJs.publish(`raw.done.${body.id}`, pack({ ok: true }));
    msg.ack();
  })(rounds);

  // executor: started and completed events, the result
  const executor = await open();
  const executorJs = jetstream(executor);
  const execs = await (await executorJs.consumers.get("RAW_WORK", "exec")).consume({ max_messages: 1000 });
  void run(async (msg) => {
    const body = unpack(msg.data) as { id: string; c: number; e: boolean };
    if (body.e) {
      await executorJs.publish(`raw.ev.${body.id}`, pack({ type: "started" }));
      await executorJs.publish(`raw.ev.${body.id}`, pack({ type: "completed" }));
    }
    await executorJs.publish(`raw.res.${body.id}.${body.c}`, pack({ value: body.c }));
    msg.ack();
  })(execs);

  const client = await open();
  return {
    async request(id, calls, { callEvents = true } = {}) {
      await client.request("raw.request", pack({ id, k: calls, e: callEvents }), { timeout: 60_000 });
    },
    async stop() {
      await Promise.all([runs.close(), rounds.close(), execs.close()]);
      await Promise.all(connections.map((nc) => nc.close()));
    },
  };
}
