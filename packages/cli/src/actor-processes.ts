import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ActorName } from "./commands/actor.ts";

const BIN = fileURLToPath(new URL("../bin/toolformer.mjs", import.meta.url));
const STOP_TIMEOUT_MS = 10_000;

export interface ActorProcesses {
  /** Every copy's process id, by actor name (for RSS readings). */
  pids(): { name: string; pid: number }[];
  /** Starts one more copy of an actor. */
  add(name: ActorName): void;
  stop(): Promise<void>;
  /** Resolves with a description when any actor process exits on its own. */
  exited: Promise<string>;
}

export interface SpawnOptions {
  /** Extra flags for node itself, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
  /** Where the actors' own output goes (default: this terminal). */
  output?: "inherit" | "ignore";
  /** Settings that differ per copy (copies count from 1), e.g. each its own METRICS_PORT. */
  envForCopy?: (name: ActorName, copy: number) => NodeJS.ProcessEnv;
}

/** Runs each actor copy as its own process (`toolformer actor <name>`), as containers would. */
export function spawnActors(
  copies: Partial<Record<ActorName, number>>,
  env: NodeJS.ProcessEnv,
  options: SpawnOptions = {},
): ActorProcesses {
  const children: { name: string; child: ChildProcess }[] = [];
  let stopping = false;
  let reportExit: (why: string) => void = () => {};
  const exited = new Promise<string>((resolve) => (reportExit = resolve));
  const add = (name: ActorName) => {
    const copy = children.filter((c) => c.name === name).length + 1;
    const output = options.output ?? "inherit";
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), BIN, "actor", name], {
      env: { ...env, ...options.envForCopy?.(name, copy) },
      stdio: ["ignore", output, output],
    });
    child.once("exit", (code, signal) => {
      if (!stopping) reportExit(`${name} #${copy} exited (${signal ?? `code ${code}`})`);
    });
    children.push({ name, child });
  };
  for (const [name, count] of Object.entries(copies) as [ActorName, number][]) {
    for (let i = 0; i < count; i++) add(name);
  }
  return {
    exited,
    add,
    pids: () => children.flatMap(({ name, child }) => (child.pid === undefined ? [] : [{ name, pid: child.pid }])),
    async stop() {
      stopping = true;
      await Promise.all(
        children.map(
          ({ child }) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              const force = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
              child.once("exit", () => {
                clearTimeout(force);
                resolve();
              });
              child.kill("SIGTERM");
            }),
        ),
      );
    },
  };
}
