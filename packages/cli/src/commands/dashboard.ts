import { connect } from "@nats-io/transport-node";
import { connectionOptions } from "@toolformer/client";
import { startDashboard } from "@toolformer/dashboard";
import { DEFAULT_NATS_URL } from "@toolformer/runtime";
import { cliCredentials } from "../local-credentials.ts";

/** Serves the web dashboard until SIGINT or SIGTERM, connected with the client role's rights. */
export async function runDashboardCommand(options: { port: number; host: string }): Promise<number> {
  const nc = await connect({
    ...connectionOptions(process.env.NATS_URL ?? DEFAULT_NATS_URL, cliCredentials("client")),
    name: "toolformer-dashboard",
  });
  const dashboard = await startDashboard({ nc, port: options.port, host: options.host });
  console.log(`dashboard: ${dashboard.url}`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await dashboard.close();
  await nc.drain();
  return 0;
}
