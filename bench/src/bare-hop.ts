/**
 * The one NATS hop a cancel takes to its executors, measured bare beside it: a publish to as many
 * subscriber processes as there are executors (`hop-sink-process.ts`), after the same quiet, timed to
 * the last arrival. On a virtual machine whose idle processes are slow to wake, this hop alone can
 * take longer than a busy one by ten times; the cancel's figure is read against it.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import type { NatsAuth } from "@toolformer/client";
import { startToolProcess, TOOL_PROCESSES } from "./services.ts";

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
  const arrivals = new Map<string, number[]>();
  const sinks = await Promise.all(
    Array.from({ length: subscribers }, () =>
      startToolProcess(TOOL_PROCESSES.hopSink, natsUrl, auth, (line) => {
        const [seq, at] = line.split(" ");
        arrivals.get(seq!)?.push(Number(at));
      }),
    ),
  );
  let next = 0;
  return {
    async measure(quietMs) {
      const seq = String(next++);
      arrivals.set(seq, []);
      await sleep(quietMs);
      const sentAt = preciseNow();
      nc.publish(HOP_SUBJECT, seq);
      const giveUpAt = Date.now() + HOP_TIMEOUT_MS;
      while (arrivals.get(seq)!.length < subscribers) {
        if (Date.now() > giveUpAt) throw new Error(`bare hop ${seq}: not every subscriber heard it`);
        await sleep(5);
      }
      const last = Math.max(...arrivals.get(seq)!);
      arrivals.delete(seq);
      return last - sentAt;
    },
    async stop() {
      await Promise.all(sinks.map((sink) => sink.stop()));
    },
  };
}
