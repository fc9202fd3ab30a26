import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { ensureRoleCredentials } from "@toolformer/runtime";
import { freePort } from "./ports.ts";
import { spawnServer, stopProcess, type ServerProcess } from "./processes.ts";
import { provisionAsAdmin, roleAccess, type RoleAccess } from "./role-access.ts";

export const DEFAULT_READY_TIMEOUT_MS = 15_000;

export interface NatsServerOptions {
  /** Extra configuration appended to the generated config file (e.g. `max_payload: 8MB`). */
  config?: string;
  readyTimeoutMs?: number;
  /** Whether the streams and buckets are created once it runs, as `toolformer provision` would (default true). */
  provision?: boolean;
  /**
   * Tenant accounts beside the orchestrator's (ADR 0017): each has a client, `connect({ tenant })`.
   * With none, every role is in the one default account, as in `nats/users.conf`.
   */
  tenants?: readonly string[];
}

/**
 * One running nats-server with JetStream, on loopback, with its own store. Auth is on, as in production:
 * every role of docs/security.md has its own nkey, and a connection gets only what its role may do.
 */
export interface NatsServer extends RoleAccess, AsyncDisposable {
  url: string;
  port: number;
  storeDir: string;
  readonly pid: number | undefined;
  /** Graceful stop; the store is removed. */
  stop(): Promise<void>;
  /** SIGKILL, keeping the store (a crash). */
  kill(): Promise<void>;
  /** Starts again on the same port with the same store, and waits until it serves JetStream. */
  restart(): Promise<void>;
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), "nats-fixture-"));
  const port = await freePort();
  const configFile = join(dir, "server.conf");
  const tenants = options.tenants ?? [];
  const credentials = ensureRoleCredentials(join(dir, "credentials"), { tenants });
  const access = roleAccess(`nats://127.0.0.1:${port}`, credentials);
  writeFileSync(
    configFile,
    [
      `listen: "127.0.0.1:${port}"`,
      `server_name: fixture_${port}`,
      `jetstream { store_dir: "${join(dir, "store")}" }`,
      credentials.authorization,
      options.config ?? "",
    ].join("\n"),
  );
  const readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const url = `nats://127.0.0.1:${port}`;
  let server: ServerProcess = spawnServer(["-c", configFile]);
  await waitForJetStream(url, server, readyTimeoutMs, access);
  if (options.provision ?? true) await provisionAsAdmin(access, 1, tenants);

  const stop = async () => {
    await stopProcess(server.child);
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    ...access,
    url,
    port,
    storeDir: join(dir, "store"),
    get pid() {
      return server.child.pid;
    },
    stop,
    kill: () => stopProcess(server.child, "SIGKILL"),
    async restart() {
      await stopProcess(server.child);
      server = spawnServer(["-c", configFile]);
      await waitForJetStream(url, server, readyTimeoutMs, access);
    },
    [Symbol.asyncDispose]: stop,
  };
}

/** Waits until the server accepts the admin's connection and answers a JetStream account-info request. */
export async function waitForJetStream(
  url: string,
  server: ServerProcess,
  timeoutMs: number,
  access: RoleAccess,
): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < giveUpAt) {
    if (server.child.exitCode !== null)
      throw new Error(`nats-server exited with code ${server.child.exitCode}:\n${server.output()}`);
    try {
      const nc = await access.connect("admin", { timeout: 1_000, reconnect: false });
      try {
        await (await jetstreamManager(nc, { timeout: 1_000 })).getAccountInfo();
        return;
      } finally {
        await nc.close();
      }
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`nats-server at ${url} not ready after ${timeoutMs} ms (${String(lastError)}):\n${server.output()}`);
}
