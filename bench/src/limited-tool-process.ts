// The utilization benchmark's remote tool (limiter-utilization.ts), a NATS micro service in a process of
// its own, as an upstream API is: it writes the time each call reaches it to stdout, one per line, so
// that what is measured is where the upstream counts, not disturbed by the benchmark's own work.
// Run: NATS_URL=... NATS_NKEY=... node limited-tool-process.ts
import { Svcm } from "@nats-io/services";
import { connect } from "@nats-io/transport-node";
import { connectionOptions, natsAuthFromEnv } from "@toolformer/client";
import { LIMITED_TOOL, LIMITED_TOOL_LIMIT, LIMITED_TOOL_SUBJECT } from "./limited-tool.ts";

const nc = await connect({
  ...connectionOptions(process.env.NATS_URL ?? "", natsAuthFromEnv(process.env)),
  name: "bench-limited-tool",
});
const service = await new Svcm(nc).add({ name: "bench-limited", version: "1.0.0" });
service.addEndpoint(LIMITED_TOOL, {
  subject: LIMITED_TOOL_SUBJECT,
  metadata: {
    "toolformer.parameters": JSON.stringify({ type: "object", properties: { n: { type: "number" } } }),
    "toolformer.description": "A call the upstream counts against its rate limit",
    "toolformer.read_only": "true",
    "toolformer.rate_limit": JSON.stringify(LIMITED_TOOL_LIMIT),
  },
  handler: (_error, msg) => {
    process.stdout.write(`${Date.now()}\n`);
    msg.respond(JSON.stringify({ ok: true }));
  },
});
process.stdout.write("ready\n");
process.once("SIGTERM", () => {
  void service
    .stop()
    .then(() => nc.close())
    .then(() => process.exit(0));
});
