import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { FlowProducer, QueueEvents } from "bullmq";

const WORKER = fileURLToPath(new URL("./bullmq-worker.ts", import.meta.url));

/**
 * The queue a Node user would reach for: one request is a parent job with a child job per tool call
 * (a BullMQ flow); the parent completes when every child has. Workers run in their own processes,
 * like our executors, with the same concurrency.
 */
export interface BullMqPeer {
  request(calls: number): Promise<void>;
  addWorker(): Promise<void>;
  stop(): Promise<void>;
}

export async function startBullMq(url: string, concurrency: number): Promise<BullMqPeer> {
  // Connection options, not clients: BullMQ then owns its connections and closes them all on close().
  const { hostname, port } = new URL(url);
  const connection = { host: hostname, port: Number(port), maxRetriesPerRequest: null };
  const flows = new FlowProducer({ connection });
  const events = new QueueEvents("bench-requests", { connection });
  // BullMQ adds a listener per flow being added (`closing`, on the producer) and per job awaited
  // (`waitUntilFinished`, on the events): with hundreds of requests in flight that is by design, not
  // a leak, so Node's warning past ten is off for both.
  flows.setMaxListeners(0);
  events.setMaxListeners(0);
  await events.waitUntilReady();
  const workers: ChildProcess[] = [];
  const addWorker = async () => {
    const child = spawn(process.execPath, [WORKER, url, String(concurrency)], { stdio: ["ignore", "pipe", "inherit"] });
    workers.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once("data", () => resolve());
      child.once("exit", (code) => reject(new Error(`BullMQ worker exited with ${code}`)));
    });
  };
  await addWorker();
  return {
    addWorker,
    async request(calls) {
      const { job } = await flows.add({
        name: "request",
        queueName: "bench-requests",
        data: {},
        children: Array.from({ length: calls }, (_, value) => ({
          name: "call",
          queueName: "bench-calls",
          data: { value },
        })),
      });
      await job.waitUntilFinished(events, 60_000);
    },
    async stop() {
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve) =>
              w.exitCode !== null ? resolve() : (w.once("exit", () => resolve()), w.kill("SIGTERM")),
            ),
        ),
      );
      await events.close();
      await flows.close();
    },
  };
}
