// The cancel benchmark's baseline (scheduling.ts): a bare NATS subscriber in a process of its own, as an
// executor is, doing nothing on arrival but writing the time to stdout ("<seq> <epoch ms>"). What a
// cancel costs beyond it is the orchestrator's; the hop itself is the machine's and the server's.
// Run: NATS_URL=... NATS_NKEY=... node hop-sink-process.ts
import { connect } from "@nats-io/transport-node";
import { connectionOptions, natsAuthFromEnv } from "@toolformer/client";
import { HOP_SUBJECT, preciseNow } from "./bare-hop.ts";

const nc = await connect({
  ...connectionOptions(process.env.NATS_URL ?? "", natsAuthFromEnv(process.env)),
  name: "bench-hop-sink",
});
const sub = nc.subscribe(HOP_SUBJECT, {
  callback: (_error, msg) => {
    process.stdout.write(`${msg.string()} ${preciseNow()}\n`);
  },
});
await nc.flush();
process.stdout.write("ready\n");
process.once("SIGTERM", () => {
  sub.unsubscribe();
  void nc.close().then(() => process.exit(0));
});
