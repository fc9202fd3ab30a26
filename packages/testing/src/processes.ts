import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";

const OUTPUT_TAIL_CHARS = 4_000;
const STOP_TIMEOUT_MS = 5_000;

export const NATS_SERVER_INSTALL_HINT =
  "nats-server not found. Install it (Debian/Ubuntu: `apt-get install -y nats-server`), put it on PATH, " +
  "or set NATS_SERVER_BIN to its path.";

const running = new Set<ChildProcess>();
const killAll = () => {
  for (const child of running) child.kill("SIGKILL");
};
// A test run that crashes, or a worker the runner stops with a signal, must not leave servers behind
// (children outlive a parent killed by a signal, and 'exit' does not fire for one).
process.once("exit", killAll);
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
  process.once(signal, () => {
    killAll();
    process.kill(process.pid, signal);
  });
}

export function natsServerBinary(env: NodeJS.ProcessEnv = process.env): string {
  if (env.NATS_SERVER_BIN) {
    if (existsSync(env.NATS_SERVER_BIN)) return env.NATS_SERVER_BIN;
    throw new Error(`NATS_SERVER_BIN=${env.NATS_SERVER_BIN} does not exist. ${NATS_SERVER_INSTALL_HINT}`);
  }
  const dirs = [...(env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin"];
  const found = dirs.map((dir) => join(dir, "nats-server")).find((candidate) => existsSync(candidate));
  if (!found) throw new Error(NATS_SERVER_INSTALL_HINT);
  return found;
}

/** Whether a process with this pid still exists (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface ServerProcess {
  child: ChildProcess;
  /** The last few thousand characters the server printed, for error messages. */
  output(): string;
}

export function spawnServer(args: string[]): ServerProcess {
  return spawnTracked(natsServerBinary(), args);
}

/** Starts a server binary that is killed with the test process if the test never stops it. */
export function spawnTracked(binary: string, args: string[]): ServerProcess {
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let tail = "";
  const keep = (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-OUTPUT_TAIL_CHARS));
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return { child, output: () => tail };
}

export function stopProcess(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const force = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill(signal);
  });
}
