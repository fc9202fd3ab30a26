// A BullMQ worker process: the peer's equivalent of an executor. Run: node bullmq-worker.ts <redis-url> <concurrency>
import { Worker } from "bullmq";
import { Redis } from "ioredis";

const [url = "redis://127.0.0.1:6379", concurrency = "64"] = process.argv.slice(2);
const connection = new Redis(url, { maxRetriesPerRequest: null });
const calls = new Worker("bench-calls", async (job) => (job.data as { value: number }).value, {
  connection,
  concurrency: Number(concurrency),
});
const parents = new Worker("bench-requests", async (job) => Object.keys(await job.getChildrenValues()).length, {
  connection,
  concurrency: Number(concurrency),
});
await Promise.all([calls.waitUntilReady(), parents.waitUntilReady()]);
process.stdout.write("ready\n");
process.once("SIGTERM", () => {
  void Promise.all([calls.close(), parents.close()]).then(() => {
    connection.disconnect(); // workers do not close a connection they were given
    process.exit(0);
  });
});
