// The agent benchmark's remote tool, a NATS micro service in a process of its own so that serving it
// costs neither the stack nor the relay. Run: NATS_URL=... NATS_NKEY=... node agent-tool-process.ts
import { Svcm } from "@nats-io/services";
import { connect } from "@nats-io/transport-node";
import { connectionOptions, natsAuthFromEnv } from "@toolformer/client";
import { AGENT_TOOL, AGENT_TOOL_SUBJECT, lookupAnswer } from "./agent-scenario.ts";

const nc = await connect({
  ...connectionOptions(process.env.NATS_URL ?? "", natsAuthFromEnv(process.env)),
  name: "bench-agent-tool",
});
const service = await new Svcm(nc).add({ name: "bench-tools", version: "1.0.0" });
service.addEndpoint(AGENT_TOOL, {
  subject: AGENT_TOOL_SUBJECT,
  metadata: {
    "toolformer.parameters": JSON.stringify({
      type: "object",
      properties: { city: { type: "string" } },
      required: ["city"],
    }),
    "toolformer.description": "The weather in a city",
    "toolformer.read_only": "true",
  },
  // No work: what is measured is the machinery around the call.
  handler: (_error, msg) => msg.respond(JSON.stringify(lookupAnswer(msg.json<{ city: string }>().city))),
});
process.stdout.write("ready\n");
process.once("SIGTERM", () => {
  void service
    .stop()
    .then(() => nc.close())
    .then(() => process.exit(0));
});
