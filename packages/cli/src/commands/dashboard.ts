import { connect } from "@nats-io/transport-node";
import { connectionOptions, type NatsAuth } from "@toolformer/client";
import { startDashboard, type Dashboard } from "@toolformer/dashboard";
import { DEFAULT_NATS_URL } from "@toolformer/runtime";
import { cliCredentials } from "../local-credentials.ts";

/**
 * The dashboard on its own connection, as the viewer role (ADR 0023). `anyPortIfTaken`: another free port when the
 * asked one is taken (`toolformer up` prints the URL; `toolformer dashboard` fails instead).
 */
export async function serveDashboard(
  natsUrl: string,
  auth: NatsAuth,
  options: { port: number; host?: string; anyPortIfTaken?: boolean },
): Promise<Dashboard> {
  const nc = await connect({ ...connectionOptions(natsUrl, auth), name: "toolformer-dashboard" });
  const start = (port: number) => startDashboard({ nc, port, ...(options.host ? { host: options.host } : {}) });
  const dashboard = await start(options.port).catch(async (error: unknown) => {
    if (options.anyPortIfTaken && (error as NodeJS.ErrnoException).code === "EADDRINUSE") return start(0);
    await nc.close();
    throw error;
  });
  return {
    url: dashboard.url,
    async close() {
      await dashboard.close();
      await nc.drain();
    },
  };
}

/** Serves the web dashboard until SIGINT or SIGTERM. */
export async function runDashboardCommand(options: { port: number; host: string }): Promise<number> {
  const dashboard = await serveDashboard(process.env.NATS_URL ?? DEFAULT_NATS_URL, cliCredentials("viewer"), options);
  console.log(`dashboard: ${dashboard.url}`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await dashboard.close();
  return 0;
}
