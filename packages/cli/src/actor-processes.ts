import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { natsAuthToEnv, type NatsAuth } from "@toolformer/client";
import type { ActorName } from "./commands/actor.ts";

const BIN = fileURLToPath(new URL("../bin/toolformer.mjs", import.meta.url));
const STOP_TIMEOUT_MS = 10_000;

/**
 * V8 flags every actor process runs with (ADR 0031); deploy/Containerfile's ENTRYPOINT gives the same.
 * The old generation may grow to 1.5 x what survived the last full collection before the next one,
 * instead of up to 4 x, and the young generation to 2 x 16 MB instead of Node 24's 2 x 64 MB: in the
 * agent benchmark at 1,000 requests in flight the dispatcher peaked at ~300 MB instead of ~550 MB and
 * the scheduler at ~160 MB instead of ~320 MB, for ~6 % more CPU per request (a 2 x 4 MB young
 * generation saved little more and cost 40-70 %).
 */
export const ACTOR_NODE_FLAGS: readonly string[] = ["--heap-growing-percent=50", "--max-semi-space-size=16"];

/**
 * glibc malloc settings every actor process runs with (ADR 0031); deploy/Containerfile sets the same ENV.
 * By default malloc raises its trim and mmap thresholds as large blocks are freed, so what a load
 * allocated outside the JS heap (sockets' buffers, TLS, zlib) stays resident after it; fixed thresholds
 * and two arenas give it back: the dispatcher idled at 124-130 MB after the agent benchmark's load
 * instead of 142, for no CPU measured. Blocks of 32 KiB and more are mapped on their own and unmapped
 * when freed, so a load's larger buffers leave no holes in the heap behind them: the dispatcher
 * 129-132 -> 116 MB after the agent benchmark, the scheduler 97-102 -> 91-92, for no CPU measured.
 */
export const ACTOR_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: "2",
  MALLOC_TRIM_THRESHOLD_: "131072",
  MALLOC_MMAP_THRESHOLD_: "32768",
};

/** One running copy of an actor: copies of a name count from 1, and a copy started later gets the next number. */
export interface ActorCopy {
  name: ActorName;
  copy: number;
  pid: number;
}

/** How a copy ended when it was told to. */
export interface CopyExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** From the signal to the exit, milliseconds. */
  afterMs: number;
  /** It was still running after the grace period and was killed with SIGKILL. */
  forced: boolean;
}

export interface ActorProcesses {
  /** Every copy's process id, by actor name (for RSS readings). */
  pids(): { name: string; pid: number }[];
  /** Starts one more copy of an actor. */
  add(name: ActorName): ActorCopy;
  /** The copies whose process has not exited, oldest first. */
  running(): ActorCopy[];
  /**
   * Sends `signal` to one copy and resolves once it has exited, with how and how long it took. A copy
   * still running `forceAfterMs` (default 10 s) after the signal is killed with SIGKILL. An exit asked
   * for here is not reported on `exited`.
   */
  signal(copy: ActorCopy, signal: NodeJS.Signals, forceAfterMs?: number): Promise<CopyExit>;
  stop(): Promise<void>;
  /** Resolves with a description when any actor process exits on its own. */
  exited: Promise<string>;
}

export interface SpawnOptions {
  /** Extra flags for node itself, e.g. `--cpu-prof`, after ACTOR_NODE_FLAGS. */
  nodeArgs?: string[];
  /**
   * Where the actors' own output goes (default: this terminal); `{ dir }` appends each copy's stdout
   * and stderr to `<dir>/<name>-<copy>.log`.
   */
  output?: "inherit" | "ignore" | { dir: string };
  /** Each actor's credentials (its role is its name), passed on as NATS_NKEY, NATS_CREDS, ... */
  credentials?: (name: ActorName) => NatsAuth;
  /** Settings that differ per copy (copies count from 1), e.g. each its own METRICS_PORT. */
  envForCopy?: (name: ActorName, copy: number) => NodeJS.ProcessEnv;
  /** Told of every copy that exits on its own (`exited` only tells of the first), e.g. to start another. */
  onUnexpectedExit?: (copy: ActorCopy, why: string) => void;
}

interface Child {
  name: ActorName;
  copy: number;
  child: ChildProcess;
  /** Set when an exit was asked for (signal()), so it is not reported as a crash. */
  told: boolean;
}

const isRunning = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** Runs each actor copy as its own process (`toolformer actor <name>`), as containers would. */
export function spawnActors(
  copies: Partial<Record<ActorName, number>>,
  env: NodeJS.ProcessEnv,
  options: SpawnOptions = {},
): ActorProcesses {
  const children: Child[] = [];
  let stopping = false;
  let reportExit: (why: string) => void = () => {};
  const exited = new Promise<string>((resolve) => (reportExit = resolve));
  const add = (name: ActorName): ActorCopy => {
    const copy = children.filter((c) => c.name === name).length + 1;
    const output = options.output ?? "inherit";
    const logFd = typeof output === "object" ? openSync(join(output.dir, `${name}-${copy}.log`), "a") : undefined;
    const stdio = logFd ?? (output as "inherit" | "ignore");
    const child = spawn(process.execPath, [...ACTOR_NODE_FLAGS, ...(options.nodeArgs ?? []), BIN, "actor", name], {
      env: {
        ...ACTOR_MALLOC_ENV,
        ...env,
        // The copy stops if this process dies without stopping it (killed by a signal): no orphans.
        TF_PARENT_PID: String(process.pid),
        ...natsAuthToEnv(options.credentials?.(name) ?? {}),
        ...options.envForCopy?.(name, copy),
      },
      stdio: ["ignore", stdio, stdio],
    });
    // The child holds its own copy of the descriptor.
    if (logFd !== undefined) closeSync(logFd);
    const entry: Child = { name, copy, child, told: false };
    child.once("exit", (code, signal) => {
      if (stopping || entry.told) return;
      const why = `${name} #${copy} exited (${signal ?? `code ${code}`})`;
      reportExit(why);
      options.onUnexpectedExit?.({ name, copy, pid: child.pid ?? -1 }, why);
    });
    children.push(entry);
    return { name, copy, pid: child.pid ?? -1 };
  };
  const signalChild = (entry: Child, signal: NodeJS.Signals, forceAfterMs: number) =>
    new Promise<CopyExit>((resolve) => {
      const { child } = entry;
      const sentAt = Date.now();
      entry.told = true;
      if (!isRunning(child))
        return resolve({ code: child.exitCode, signal: child.signalCode, afterMs: 0, forced: false });
      let forced = false;
      const force = setTimeout(() => {
        forced = true;
        child.kill("SIGKILL");
      }, forceAfterMs);
      child.once("exit", (code, exitSignal) => {
        clearTimeout(force);
        resolve({ code, signal: exitSignal, afterMs: Date.now() - sentAt, forced });
      });
      child.kill(signal);
    });
  for (const [name, count] of Object.entries(copies) as [ActorName, number][]) {
    for (let i = 0; i < count; i++) add(name);
  }
  return {
    exited,
    add,
    pids: () => children.flatMap(({ name, child }) => (child.pid === undefined ? [] : [{ name, pid: child.pid }])),
    running: () =>
      children
        .filter(({ child }) => isRunning(child) && child.pid !== undefined)
        .map(({ name, copy, child }) => ({ name, copy, pid: child.pid ?? -1 })),
    signal(copy, signal, forceAfterMs = STOP_TIMEOUT_MS) {
      const entry = children.find((c) => c.name === copy.name && c.copy === copy.copy);
      if (!entry) return Promise.reject(new Error(`no copy ${copy.name} #${copy.copy}`));
      return signalChild(entry, signal, forceAfterMs);
    },
    async stop() {
      stopping = true;
      await Promise.all(children.map((entry) => signalChild(entry, "SIGTERM", STOP_TIMEOUT_MS)));
    },
  };
}
