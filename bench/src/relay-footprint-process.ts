// The raw relay in a process of its own, for what the bare hops hold per request in flight: it reads its
// RSS once idle, runs IN_FLIGHT requests at a time (REQUESTS in all, none started after BUDGET_MS),
// sampling its RSS, and reads it again SETTLE_MS later; it prints one JSON line and exits. Run by
// relay-footprint.ts with the actors' node flags.
import { natsAuthFromEnv } from "@toolformer/client";
import { closedLoop } from "./load.ts";
import { startRawRelay } from "./systems/raw-relay.ts";

const setting = (name: string) => {
  const value = Number(process.env[name]);
  if (!Number.isFinite(value)) throw new Error(`${name} is not a number`);
  return value;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const relay = await startRawRelay(
  process.env.NATS_URL ?? "",
  natsAuthFromEnv(process.env),
  process.env.MODEL_URL ?? "",
);
await sleep(setting("FRESH_IDLE_MS"));
const freshBytes = process.memoryUsage.rss();
let peakBytes = freshBytes;
const sampler = setInterval(
  () => (peakBytes = Math.max(peakBytes, process.memoryUsage.rss())),
  setting("SAMPLE_EVERY_MS"),
);
await closedLoop(setting("IN_FLIGHT"), setting("REQUESTS"), () => relay.request(), setting("BUDGET_MS"));
clearInterval(sampler);
peakBytes = Math.max(peakBytes, process.memoryUsage.rss());
await sleep(setting("SETTLE_MS"));
const afterLoadBytes = process.memoryUsage.rss();
await relay.stop();
// The SDK's idle keep-alive sockets would hold the process for seconds more: it exits once the line is out.
process.stdout.write(`${JSON.stringify({ freshBytes, peakBytes, afterLoadBytes })}\n`, () => process.exit(0));
