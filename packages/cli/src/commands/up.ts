import { join } from "node:path";
import { startFakeLlm } from "@toolformer/fake-llm";
import { natsAuthFromEnv, natsAuthToEnv, ToolformerClient, type NatsAuth } from "@toolformer/client";
import type { Role } from "@toolformer/protocol";
import { ensureRoleCredentials, seedFile } from "@toolformer/runtime";
import { localCredentialsDir } from "../local-credentials.ts";
import { serveDashboard } from "./dashboard.ts";
import { runProvisionCommand } from "./provision.ts";
import { spawnActors } from "../actor-processes.ts";
import { startLocalNats, type LocalNats } from "../local-nats.ts";
import { waitForActors } from "../readiness.ts";
import { runAndPrint } from "./run.ts";
import type { ActorName } from "./actor.ts";

const ACTORS_READY_TIMEOUT_MS = 60_000;
export const DEMO_PROMPT = "What is the weather in Paris and in Tokyo, and what is 21*2?";

export interface UpOptions {
  copies: Record<ActorName, number>;
  natsPort: number;
  demo: boolean;
  /** Where the dashboard listens on 127.0.0.1 (another free port when taken); null: no dashboard. */
  dashboardPort: number | null;
  /**
   * Tenant accounts of the local server (ADR 0017), each with a client key under
   * `.toolformer/credentials/tenants`; their event streams are provisioned with the rest.
   */
  tenants: string[];
}

/**
 * The whole stack in the foreground: a local nats-server (unless NATS_URL names one), the fake model
 * server, and each actor as its own process. The local server has auth on: every role gets its own
 * key under `.toolformer/credentials`, and each process connects as its role. Provisions the streams
 * and buckets as the admin, prints one `ready` line, answers a demo request, and on Ctrl-C drains the
 * actors and stops what it started. With NATS_URL, every process uses the environment's credentials.
 */
export async function runUpCommand(options: UpOptions): Promise<number> {
  let nats: LocalNats | undefined;
  let credentialsFor: (role: Role) => NatsAuth = () => natsAuthFromEnv(process.env);
  let natsUrl = process.env.NATS_URL;
  if (natsUrl === undefined) {
    const credentials = ensureRoleCredentials(localCredentialsDir(), { tenants: options.tenants });
    nats = await startLocalNats(options.natsPort, join(process.cwd(), ".toolformer", "nats"), credentials);
    natsUrl = nats.url;
    credentialsFor = credentials.auth;
    console.log(
      `credentials: one nkey per role in ${credentials.dir} (a client: NATS_NKEY=${credentials.dir}/client.nk; the dashboard and status: viewer.nk)`,
    );
    for (const tenant of options.tenants)
      console.log(`tenant ${tenant}: its client is NATS_NKEY=${seedFile(credentials.dir, { tenant })}`);
  }
  await runProvisionCommand({
    ...process.env,
    NATS_URL: natsUrl,
    ...natsAuthToEnv(credentialsFor("admin")),
    ...(options.tenants.length > 0 ? { TF_TENANTS: options.tenants.join(",") } : {}),
  });
  const fake = await startFakeLlm({ port: 0 });
  const realProvider = process.env.OPENAI_API_KEY ? "openai" : process.env.ANTHROPIC_API_KEY ? "anthropic" : undefined;
  // One metrics port per process, counted up from METRICS_PORT: every copy on one port would fail to bind.
  const metrics = process.env.METRICS_PORT ? metricsPorts(options.copies, Number(process.env.METRICS_PORT)) : undefined;
  if (metrics) console.log(`metrics: ${[...metrics].map(([copy, port]) => `${copy} :${port}`).join(", ")}`);
  const actors = spawnActors(
    options.copies,
    {
      ...process.env,
      NATS_URL: natsUrl,
      FAKE_LLM_URL: fake.url,
      LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
    },
    {
      credentials: credentialsFor,
      ...(metrics ? { envForCopy: (name, copy) => ({ METRICS_PORT: String(metrics.get(`${name}#${copy}`)) }) } : {}),
    },
  );

  const stopAll = async () => {
    await actors.stop();
    await fake.close();
    await nats?.stop();
  };
  try {
    await Promise.race([
      waitForActors(natsUrl, options.copies, ACTORS_READY_TIMEOUT_MS, credentialsFor("admin")),
      actors.exited.then((why) => Promise.reject(new Error(why))),
    ]);
  } catch (error) {
    await stopAll();
    throw error;
  }
  const actorSummary = Object.entries(options.copies)
    .map(([name, n]) => `${name}=${n}`)
    .join(" ");
  console.log(`ready nats=${natsUrl} model=${realProvider ?? `fake(${fake.url})`} ${actorSummary}`);
  const dashboard =
    options.dashboardPort === null
      ? undefined
      : await serveDashboard(natsUrl, credentialsFor("viewer"), { port: options.dashboardPort, anyPortIfTaken: true });
  if (dashboard) console.log(`dashboard: ${dashboard.url}`);

  if (options.demo) {
    const model =
      process.env.TOOLFORMER_MODEL ??
      (realProvider === "openai"
        ? "openai:gpt-4o-mini"
        : realProvider === "anthropic"
          ? "anthropic:claude-haiku-4-5"
          : "fake:demo");
    console.log(`demo request (${model}): ${DEMO_PROMPT}`);
    const client = await ToolformerClient.connect(natsUrl, "toolformer-up-demo", credentialsFor("client"));
    try {
      await runAndPrint(client, { prompt: DEMO_PROMPT, model, timeoutMs: 60_000 }, (line) => console.log(line));
    } catch (error) {
      console.error(`demo request failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      await client.close();
    }
    console.log('serving; try `npx toolformer run "<prompt>"` in another terminal. Ctrl-C stops.');
  }

  const why = await new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("interrupted"));
    process.once("SIGTERM", () => resolve("terminated"));
    void actors.exited.then(resolve);
  });
  console.log(`stopping (${why})`);
  await dashboard?.close();
  await stopAll();
  console.log("stopped");
  return why.includes("exited") ? 1 : 0;
}

/** The metrics port of each actor copy (`<name>#<copy>`, copies from 1), counted up from `base`. */
export function metricsPorts(copies: Record<ActorName, number>, base: number): Map<string, number> {
  const ports = new Map<string, number>();
  for (const [name, count] of Object.entries(copies))
    for (let copy = 1; copy <= count; copy++) ports.set(`${name}#${copy}`, base + ports.size);
  return ports;
}
