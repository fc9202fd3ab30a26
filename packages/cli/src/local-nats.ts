import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { connectionOptions, type NatsAuth } from "@toolformer/client";
import type { RoleCredentials } from "@toolformer/runtime";

const READY_TIMEOUT_MS = 10_000;

export const NATS_INSTALL_HINT =
  "nats-server was not found on PATH. Install it (Debian/Ubuntu: `sudo apt-get install -y nats-server`; " +
  "others: https://docs.nats.io/running-a-nats-service/introduction/installation), set NATS_SERVER_BIN to its path, " +
  "or point NATS_URL at a running server with JetStream enabled.";

/** nats-server from NATS_SERVER_BIN or PATH (Debian installs it in /usr/sbin, which a user's PATH may lack). */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.NATS_SERVER_BIN) return existsSync(env.NATS_SERVER_BIN) ? env.NATS_SERVER_BIN : undefined;
  const dirs = [...(env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin"];
  return dirs.map((dir) => join(dir, "nats-server")).find((candidate) => existsSync(candidate));
}

/** util-linux's `setpriv`, where it is (Linux). */
const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"].find((candidate) => existsSync(candidate));

/**
 * The command that runs `binary` so that the kernel sends it SIGTERM when this process dies: a `toolformer
 * up` killed by a signal cannot stop its server, and an orphaned one would keep the port and the data
 * directory from the next `up` (the actors stop by themselves, TF_PARENT_PID). Without `setpriv` (not
 * Linux), the server runs as is.
 */
function stoppedWithThisProcess(binary: string, args: string[]): [string, string[]] {
  return SETPRIV ? [SETPRIV, ["--pdeathsig", "TERM", binary, ...args]] : [binary, args];
}

export interface LocalNats {
  url: string;
  stop(): Promise<void>;
}

/**
 * A JetStream nats-server on loopback with auth on (each role's key admitted with that role's
 * permissions), its data in `dataDir` so streams survive a restart of the stack. Its config is written
 * beside the data, to read or to start the same server by hand.
 */
export async function startLocalNats(port: number, dataDir: string, credentials: RoleCredentials): Promise<LocalNats> {
  const binary = findNatsServer();
  if (!binary) throw new Error(NATS_INSTALL_HINT);
  mkdirSync(dataDir, { recursive: true });
  const configFile = join(dirname(dataDir), "nats-server.conf");
  writeFileSync(
    configFile,
    [
      "# Written by `toolformer up`; the keys are in ./credentials.",
      `listen: "127.0.0.1:${port}"`,
      `jetstream { store_dir: ${JSON.stringify(dataDir)} }`,
      credentials.authorization,
    ].join("\n"),
    { mode: 0o600 },
  );
  const [command, args] = stoppedWithThisProcess(binary, ["-c", configFile]);
  const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const url = `nats://127.0.0.1:${port}`;
  await waitUntilServing(url, credentials.auth("admin"), child, () => stderr);
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

async function waitUntilServing(url: string, auth: NatsAuth, child: ChildProcess, stderr: () => string): Promise<void> {
  const giveUpAt = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < giveUpAt) {
    if (child.exitCode !== null) throw new Error(`nats-server exited with code ${child.exitCode}:\n${stderr()}`);
    try {
      const nc = await connect({ ...connectionOptions(url, auth), timeout: 500 });
      await nc.close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  child.kill("SIGKILL");
  throw new Error(`nats-server did not start within ${READY_TIMEOUT_MS} ms:\n${stderr()}`);
}
