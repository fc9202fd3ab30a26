import { connect } from "@nats-io/transport-node";
import { connectionOptions, type NatsAuth } from "@toolformer/client";
import { startDashboard, type Dashboard } from "@toolformer/dashboard";
import { DEFAULT_NATS_URL } from "@toolformer/runtime";
import { cliCredentials } from "../local-credentials.ts";

/**
 * The dashboard on its own connection, as the viewer role (ADR 0023), and with `approverAuth` a second one
 * that may approve (ADR 0028). `anyPortIfTaken`: another free port when the asked one is taken
 * (`toolformer up` prints the URL; `toolformer dashboard` fails instead).
 */
export async function serveDashboard(
  natsUrl: string,
  auth: NatsAuth,
  options: { port: number; host?: string; anyPortIfTaken?: boolean; approverAuth?: NatsAuth },
): Promise<Dashboard> {
  const nc = await connect({ ...connectionOptions(natsUrl, auth), name: "toolformer-dashboard" });
  const approver = options.approverAuth
    ? await connect({
        ...connectionOptions(natsUrl, options.approverAuth),
        name: "toolformer-dashboard-approver",
      }).catch(async (error: unknown) => {
        await nc.close();
        throw error;
      })
    : undefined;
  const start = (port: number) =>
    startDashboard({ nc, port, ...(approver ? { approver } : {}), ...(options.host ? { host: options.host } : {}) });
  const dashboard = await start(options.port).catch(async (error: unknown) => {
    if (options.anyPortIfTaken && (error as NodeJS.ErrnoException).code === "EADDRINUSE") return start(0);
    await Promise.all([nc.close(), approver?.close()]);
    throw error;
  });
  return {
    url: dashboard.url,
    async close() {
      await dashboard.close();
      await Promise.all([nc.drain(), approver?.drain()]);
    },
  };
}

/**
 * Serves the web dashboard until SIGINT or SIGTERM. `approve`: approvals are sent with the client role's
 * credentials, found as `toolformer approve` finds them.
 */
export async function runDashboardCommand(options: { port: number; host: string; approve: boolean }): Promise<number> {
  const { approve, ...where } = options;
  const dashboard = await serveDashboard(process.env.NATS_URL ?? DEFAULT_NATS_URL, cliCredentials("viewer"), {
    ...where,
    ...(approve ? { approverAuth: cliCredentials("client") } : {}),
  });
  console.log(`dashboard: ${dashboard.url}${approve ? " (approvals on)" : ""}`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await dashboard.close();
  return 0;
}
