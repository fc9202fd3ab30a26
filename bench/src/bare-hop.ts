/**
 * The one NATS hop a cancel takes to its executors, measured bare beside it: a publish to as many
 * subscriber processes as there are executors (`hop-sink-process.ts`), after the same quiet, timed to
 * the last arrival. On a virtual machine whose idle processes are slow to wake, this hop alone can
 * take longer than a busy one by ten times; the cancel's figure is read against it.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import type { NatsAuth } from "@toolformer/client";
import { startNatsProcess, NATS_PROCESSES } from "./services.ts";

export const HOP_SUBJECT = "bench.hop";
const HOP_TIMEOUT_MS = 5_000;

/** Epoch milliseconds with sub-millisecond precision, comparable between processes of one machine. */
export const preciseNow = () => performance.timeOrigin + performance.now();

export interface BareHop {
  /** Publishes after `quietMs` of nothing and resolves with the milliseconds to the last subscriber. */
  measure(quietMs: number): Promise<number>;
  stop(): Promise<void>;
}

export async function startBareHop(
  nc: NatsConnection,
  natsUrl: string,
  auth: NatsAuth,
  subscribers: number,
): Promise<BareHop> {
  /** Each hop under way: the arrival times heard so far, and what to call once every subscriber heard it. */
  const pending = new Map<string, { times: number[]; heardByAll: () => void }>();
  const sinks = await Promise.all(
    Array.from({ length: subscribers }, () =>
      startNatsProcess(NATS_PROCESSES.hopSink, natsUrl, auth, (line) => {
        const [seq, at] = line.split(" ");
        const hop = pending.get(seq!);
        if (!hop) return;
        hop.times.push(Number(at));
        if (hop.times.length === subscribers) hop.heardByAll();
      }),
    ),
  );
  let next = 0;
  return {
    async measure(quietMs) {
      const seq = String(next++);
      const times: number[] = [];
      const heard = new Promise<void>((resolve) => pending.set(seq, { times, heardByAll: resolve }));
      await sleep(quietMs);
      const sentAt = preciseNow();
      nc.publish(HOP_SUBJECT, seq);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`bare hop ${seq}: not every subscriber heard it`)), HOP_TIMEOUT_MS);
      });
      try {
        await Promise.race([heard, timedOut]);
      } finally {
        clearTimeout(timer);
        pending.delete(seq);
      }
      return Math.max(...times) - sentAt;
    },
    async stop() {
      await Promise.all(sinks.map((sink) => sink.stop()));
    },
  };
}
