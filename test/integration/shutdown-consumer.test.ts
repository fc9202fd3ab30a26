import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { CONSUMERS, INTERNAL_SUBJECTS, STREAMS } from "@toolformer/protocol";
import {
  ack,
  BaseConfigSchema,
  retry,
  handBack,
  runConsumer,
  startActor,
  type ActorDefinition,
  type Delivery,
  type Directive,
  type RunningActor,
} from "@toolformer/runtime";
import { startNatsServer, type NatsServer } from "@toolformer/testing";
import { defineTool, EXAMPLE_TOOLS } from "@toolformer/tools";
import { startEnvironment } from "../support/environment.ts";

const ItemSchema = z.object({ n: z.int() });
type Handler = (item: z.output<typeof ItemSchema>, delivery: Delivery) => Promise<Directive>;

interface Probe {
  stream: string;
  subject: string;
  durable: string;
  maxInFlight?: number;
  maxDeliver?: number;
  stopGraceMs?: number;
  ackWaitMs?: number;
  oneDeliveryAtATime?: boolean;
  acks?: "none";
  ignore?: (headers: MsgHdrs | undefined) => boolean;
}

/** A one-consumer actor around `handle`, on the real runtime (provisioning, metrics, stop). */
function probeActor(probe: Probe, handle: Handler): ActorDefinition {
  return {
    name: "probe",
    serviceName: "probe",
    description: "runs one consumer for a test",
    needs: { streams: ["exec", "rounds"], buckets: [] },
    async start(ctx) {
      const consumer = await runConsumer(
        ctx.js,
        ctx.jsm,
        {
          stream: probe.stream,
          durable: probe.durable,
          filterSubject: probe.subject,
          schema: ItemSchema,
          maxInFlight: probe.maxInFlight ?? 4,
          ackWaitMs: probe.ackWaitMs ?? 30_000,
          ...(probe.oneDeliveryAtATime ? { oneDeliveryAtATime: true } : {}),
          ...(probe.acks ? { acks: probe.acks } : {}),
          ...(probe.ignore ? { ignore: probe.ignore } : {}),
          ...(probe.maxDeliver === undefined ? {} : { maxDeliver: probe.maxDeliver }),
          ...(probe.stopGraceMs === undefined ? {} : { stopGraceMs: probe.stopGraceMs }),
          handle,
        },
        ctx.log,
        ctx.metrics,
      );
      return { stop: () => consumer.stop() };
    },
  };
}

/** The probe consumes the work queues of executors and schedulers: the scheduler's role reads both. */
const start = (nats: NatsServer, definition: ActorDefinition): Promise<RunningActor> =>
  startActor(
    definition,
    BaseConfigSchema.parse({ natsUrl: nats.url, natsAuth: nats.credentials("scheduler"), logLevel: "silent" }),
  );

const unique = () => randomBytes(4).toString("hex");

/** A probe of its own on the rounds stream, whose messages stay after they are acked. */
const roundsProbe = () => ({
  stream: STREAMS.rounds.name,
  subject: INTERNAL_SUBJECTS.roundSubmit(`probe_${unique()}`),
  durable: `probe_${unique()}`,
});

/**
 * A probe that records the `n` of each message it handles, in order, then acks it (or throws, when
 * `fail` says so for that `n`).
 */
async function startRecording(nats: NatsServer, probe: Probe, fail: (n: number) => boolean = () => false) {
  const seen: number[] = [];
  const handled = counter();
  const actor = await start(
    nats,
    probeActor(probe, async ({ n }) => {
      seen.push(n);
      handled.add();
      if (fail(n)) throw new Error(`a failing handler (message ${n})`);
      return ack();
    }),
  );
  return { seen, handled, actor };
}

/** Resolves once `count()` reaches `n` (checked whenever `poke` is called). */
function counter() {
  let value = 0;
  let waiters: { n: number; resolve: () => void }[] = [];
  return {
    get value() {
      return value;
    },
    add() {
      value++;
      waiters = waiters.filter((w) => (value >= w.n ? (w.resolve(), false) : true));
    },
    reach(n: number, timeoutMs = 15_000): Promise<void> {
      if (value >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${value} of ${n} after ${timeoutMs} ms`)), timeoutMs);
        waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
  };
}

/**
 * Deletes a durable as an operator (or a lost node) would. nats-server 2.9 can answer a delete with
 * "directory not empty" while it flushes the consumer's state; then it is asked again.
 */
async function deleteDurable(nc: NatsConnection, stream: string, durable: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (let attempt = 1; ; attempt++) {
    const deleted = await jsm.consumers.delete(stream, durable).catch((error: unknown) => error);
    if (deleted === true) return;
    const gone = await jsm.consumers.info(stream, durable).then(
      () => false,
      (error: unknown) => /not found/i.test(String(error)),
    );
    if (gone) return;
    if (attempt >= 20) throw deleted;
    await sleep(50);
  }
}

/**
 * Waits (bounded) until the durable has every message delivered and acknowledged: a handler's ack is
 * sent after it returns, so a durable deleted right after the handler ran may never hear it.
 */
async function untilAllAcked(nc: NatsConnection, stream: string, durable: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (let attempt = 1; ; attempt++) {
    const info = await jsm.consumers.info(stream, durable);
    if (info.num_ack_pending === 0 && info.num_pending === 0) return;
    if (attempt >= 100) throw new Error(`${durable}: ${info.num_ack_pending} unacked, ${info.num_pending} pending`);
    await sleep(50);
  }
}

async function publish(nc: NatsConnection, subject: string, ns: number[]): Promise<void> {
  const js = jetstream(nc);
  for (const n of ns) await js.publish(subject, JSON.stringify({ n }));
}

describe("a consumer whose copy stops", () => {
  it("hands back running and pulled work at once, and rolling restarts never use up a message's deliveries", async () => {
    await using nats = await startNatsServer();
    const nc = await nats.connect("admin");
    const tool = `probe_${unique()}`;
    const probe = { stream: STREAMS.exec.name, subject: INTERNAL_SUBJECTS.exec(tool), durable: `exec_${tool}` };
    const items = [1, 2, 3, 4, 5, 6];

    // Four copies in a row take work and are stopped while holding it (a rolling update of four
    // pods); with max_deliver 2, a hand-back that counted as a delivery would lose items on the way.
    for (let copy = 1; copy <= 4; copy++) {
      const held = counter();
      const actor = await start(
        nats,
        probeActor({ ...probe, maxInFlight: 2, maxDeliver: 2 }, async (_item, { stopping }) => {
          held.add();
          await new Promise((resolve) => stopping.addEventListener("abort", resolve, { once: true }));
          return handBack();
        }),
      );
      if (copy === 1) await publish(nc, probe.subject, items);
      await held.reach(2);
      const stoppingAt = Date.now();
      await actor.stop();
      expect(Date.now() - stoppingAt).toBeLessThan(3_000);
    }

    const seen = new Map<number, number>();
    const done = counter();
    const last = await start(
      nats,
      probeActor({ ...probe, maxDeliver: 2 }, async ({ n }, { deliveryCount }) => {
        if (!seen.has(n)) done.add();
        seen.set(n, deliveryCount);
        return ack();
      }),
    );
    await done.reach(items.length);
    await last.stop();
    expect([...seen.keys()].sort()).toEqual(items);
    // The deliveries go on counting across hand-backs (a taken-over item knows it was worked on).
    expect(Math.max(...seen.values())).toBeGreaterThan(2);
    await nc.close();
  }, 60_000);

  it("waits for a handler that does not hand back only as long as the stop grace", async () => {
    await using nats = await startNatsServer();
    const nc = await nats.connect("admin");
    const tool = `probe_${unique()}`;
    const probe = { stream: STREAMS.exec.name, subject: INTERNAL_SUBJECTS.exec(tool), durable: `exec_${tool}` };
    const held = counter();
    const actor = await start(
      nats,
      probeActor({ ...probe, stopGraceMs: 300 }, async () => {
        held.add();
        await sleep(5_000);
        return ack();
      }),
    );
    await publish(nc, probe.subject, [1]);
    await held.reach(1);
    const stoppingAt = Date.now();
    await actor.stop();
    expect(Date.now() - stoppingAt).toBeLessThan(2_000);
    await nc.close();
  }, 30_000);
});

describe("a message delivered again while this copy still works on it", () => {
  /**
   * An ack wait shorter than the keep-alive's period stands in for a consumer leader elected after a
   * node died, which knows nothing of the progress acks and delivers the message again at once.
   */
  const slowProbe = () => {
    const tool = `probe_${unique()}`;
    return {
      stream: STREAMS.exec.name,
      subject: INTERNAL_SUBJECTS.exec(tool),
      durable: `exec_${tool}`,
      ackWaitMs: 400,
      maxDeliver: 50,
      maxInFlight: 16,
      oneDeliveryAtATime: true,
    };
  };
  const HANDLER_MS = 1_500;

  it("is not worked on twice: the later delivery waits for the earlier, which settles both", async () => {
    await using nats = await startNatsServer();
    const nc = await nats.connect("admin");
    const probe = slowProbe();
    let active = 0;
    let mostAtOnce = 0;
    const handled = counter();
    const actor = await start(
      nats,
      probeActor(probe, async () => {
        mostAtOnce = Math.max(mostAtOnce, ++active);
        handled.add();
        await sleep(HANDLER_MS);
        active--;
        return ack();
      }),
    );
    await publish(nc, probe.subject, [1]);
    await handled.reach(1);
    await untilAllAcked(nc, probe.stream, probe.durable);
    const { delivered } = await (await jetstreamManager(nc)).consumers.info(probe.stream, probe.durable);
    // The server did deliver it again while the handler ran: what this test is about happened.
    expect(delivered.consumer_seq).toBeGreaterThan(1);
    expect(handled.value).toBe(1);
    expect(mostAtOnce).toBe(1);
    await actor.stop();
    await nc.close();
  }, 30_000);

  it("is worked on after the earlier delivery when that one left it to do, told it was worked on", async () => {
    await using nats = await startNatsServer();
    const nc = await nats.connect("admin");
    const probe = slowProbe();
    let active = 0;
    let mostAtOnce = 0;
    const seen: boolean[] = [];
    const handled = counter();
    const actor = await start(
      nats,
      probeActor(probe, async (_item, { redelivered }) => {
        mostAtOnce = Math.max(mostAtOnce, ++active);
        seen.push(redelivered);
        handled.add();
        await sleep(seen.length === 1 ? HANDLER_MS : 0);
        active--;
        return seen.length === 1 ? retry(0) : ack();
      }),
    );
    await publish(nc, probe.subject, [1]);
    await handled.reach(2);
    await untilAllAcked(nc, probe.stream, probe.durable);
    expect(seen.slice(0, 2)).toEqual([false, true]);
    expect(mostAtOnce).toBe(1);
    await actor.stop();
    await nc.close();
  }, 30_000);
});

describe("a consumer the server loses while its actor runs", () => {
  it("makes a work-queue durable again and goes on consuming", async () => {
    await using nats = await startNatsServer();
    const nc = await nats.connect("admin");
    const tool = `probe_${unique()}`;
    const probe = { stream: STREAMS.exec.name, subject: INTERNAL_SUBJECTS.exec(tool), durable: `exec_${tool}` };
    const { seen, handled, actor } = await startRecording(nats, probe);
    await publish(nc, probe.subject, [1]);
    await handled.reach(1);
    await untilAllAcked(nc, probe.stream, probe.durable);
    await deleteDurable(nc, probe.stream, probe.durable);
    await publish(nc, probe.subject, [2]);
    await handled.reach(2);
    expect(seen).toEqual([1, 2]);
    await actor.stop();
    await nc.close();
  }, 30_000);

  it("tells the handler that a message the re-made durable delivers again may have been worked on", async () => {
    await using nats = await startNatsServer();
    const nc = await nats.connect("admin");
    const tool = `probe_${unique()}`;
    const probe = { stream: STREAMS.exec.name, subject: INTERNAL_SUBJECTS.exec(tool), durable: `exec_${tool}` };
    const seen: { deliveryCount: number; redelivered: boolean }[] = [];
    const handled = counter();
    let durableGone: () => void = () => {};
    const gone = new Promise<void>((resolve) => (durableGone = resolve));
    const actor = await start(
      nats,
      probeActor(probe, async (_item, { deliveryCount, redelivered }) => {
        seen.push({ deliveryCount, redelivered });
        handled.add();
        // The first delivery's ack goes to a durable the server has lost: the message is still to do.
        if (seen.length === 1) await gone;
        return ack();
      }),
    );
    await publish(nc, probe.subject, [1]);
    await handled.reach(1);
    await deleteDurable(nc, probe.stream, probe.durable);
    durableGone();
    await handled.reach(2);
    // The new durable knows nothing of the first delivery and counts this one as the first.
    expect(seen).toEqual([
      { deliveryCount: 1, redelivered: false },
      { deliveryCount: 1, redelivered: true },
    ]);
    await actor.stop();
    await nc.close();
  }, 30_000);

  it("makes a durable on a stream that keeps acked messages again from where it was, without replaying them", async () => {
    await using nats = await startNatsServer();
    const nc = await nats.connect("admin");
    const probe = roundsProbe();
    const { seen, handled, actor } = await startRecording(nats, probe);
    await publish(nc, probe.subject, [1, 2]);
    await handled.reach(2);
    await untilAllAcked(nc, probe.stream, probe.durable);
    await deleteDurable(nc, probe.stream, probe.durable);
    await publish(nc, probe.subject, [3]);
    await handled.reach(3);
    // Messages come in stream order: a replay of 1 and 2 would have come before 3.
    expect(seen).toEqual([1, 2, 3]);
    await actor.stop();
    await nc.close();
  }, 30_000);

  it("keeps a whole stack serving when the scheduler's and an executor's durables are deleted", async () => {
    const runs = new Map<string, number>();
    const counted = defineTool({
      name: "counted_echo",
      description: "Echoes and counts how often each call ran.",
      parameters: z.object({ text: z.string() }),
      idempotent: false,
      async run({ text }, ctx) {
        const key = `${ctx.requestId}/${ctx.callId}`;
        runs.set(key, (runs.get(key) ?? 0) + 1);
        return { text };
      },
    });
    await using env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, counted],
      waitForTools: ["counted_echo"],
      scenarios: {
        echo: {
          turns: [
            { toolCalls: [{ id: "a", name: "counted_echo", arguments: { text: "still here" } }] },
            { text: "done" },
          ],
        },
      },
    });
    const ask = async () => {
      const reply = await env.client.request({ prompt: "x", model: "fake:echo", options: { timeoutMs: 30_000 } });
      expect(reply.status).toBe("completed");
      expect(reply.toolCalls.map((call) => call.result)).toEqual([{ text: "still here" }]);
    };
    await ask();
    const nc = await env.nats.connect("admin");
    await untilAllAcked(nc, STREAMS.rounds.name, CONSUMERS.scheduler);
    await untilAllAcked(nc, STREAMS.exec.name, CONSUMERS.executorForTool("counted_echo"));
    await deleteDurable(nc, STREAMS.rounds.name, CONSUMERS.scheduler);
    await deleteDurable(nc, STREAMS.exec.name, CONSUMERS.executorForTool("counted_echo"));
    await ask();
    await ask();
    // Nothing replayed: the first request's round and call ran once.
    expect([...runs.values()]).toEqual([1, 1, 1]);
    await nc.close();
  }, 60_000);
});

describe("a consumer that only watches (acks none)", () => {
  it("handles each message once, sends no ack, retries nothing, and a later copy goes on after what it was given", async () => {
    await using nats = await startNatsServer();
    const nc = await nats.connect("admin");
    const probe = { ...roundsProbe(), acks: "none" as const };
    // A failing handler: with acks the message would be tried again; here it is not.
    const { seen, handled, actor } = await startRecording(nats, probe, (n) => n === 2);
    await publish(nc, probe.subject, [1, 2, 3]);
    await handled.reach(3);
    const info = await (await jetstreamManager(nc)).consumers.info(probe.stream, probe.durable);
    expect(info.config.ack_policy).toBe("none");
    expect([info.num_ack_pending, info.num_redelivered, info.delivered.stream_seq]).toEqual([0, 0, 3]);
    // An absence: with acks the failed message would be nak'd for another try 500 ms later.
    await sleep(1_000);
    expect(seen).toEqual([1, 2, 3]);
    await actor.stop();

    // A copy that starts later goes on after what the first was given.
    const { seen: later, handled: again, actor: second } = await startRecording(nats, probe);
    await publish(nc, probe.subject, [4]);
    await again.reach(1);
    expect(later).toEqual([4]);
    await second.stop();
    await nc.close();
  }, 30_000);
});

describe("a consumer that passes over what it has no use for", () => {
  it("never hands a message its headers rule out to the handler, and settles it so it never comes back", async () => {
    await using nats = await startNatsServer();
    const nc = await nats.connect("admin");
    const probe = {
      ...roundsProbe(),
      ackWaitMs: 1_000,
      ignore: (h: MsgHdrs | undefined) => h?.get("Probe-Kind") === "noise",
    };
    const { seen, handled, actor } = await startRecording(nats, probe);
    const js = jetstream(nc);
    for (const n of [1, 2, 3, 4, 5, 6]) {
      const h = headers();
      if (n % 2 === 0) h.set("Probe-Kind", "noise");
      await js.publish(probe.subject, JSON.stringify({ n }), { headers: h });
    }
    await handled.reach(3);
    // An absence: an ignored message left unacked would come back after the 1 s ack wait.
    await sleep(2_000);
    expect(seen).toEqual([1, 3, 5]);
    const info = await (await jetstreamManager(nc)).consumers.info(probe.stream, probe.durable);
    expect([info.num_ack_pending, info.num_redelivered, info.delivered.stream_seq]).toEqual([0, 0, 6]);
    await actor.stop();
    await nc.close();
  }, 30_000);
});

describe("the work a consumer holds", () => {
  it("counts each delivery from its start to its settling, so the process holds work only meanwhile", async () => {
    await using nats = await startNatsServer();
    const nc = await nats.connect("admin");
    const probe = roundsProbe();
    const started = counter();
    let finish: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (finish = resolve));
    const actor = await start(
      nats,
      probeActor(probe, async () => {
        started.add();
        await gate;
        return ack();
      }),
    );
    try {
      expect(actor.holdsWork()).toBe(false);
      await publish(nc, probe.subject, [1, 2]);
      await started.reach(2);
      expect(actor.holdsWork()).toBe(true);
      finish();
      // The count is let go as the handler's promise settles, before the ack it sent can reach the server.
      await untilAllAcked(nc, probe.stream, probe.durable);
      expect(actor.holdsWork()).toBe(false);
    } finally {
      await actor.stop();
      await nc.close();
    }
  });
});
