import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ActorName } from "./commands/actor.ts";

const BIN = fileURLToPath(new URL("../bin/toolformer.mjs", import.meta.url));
const STOP_TIMEOUT_MS = 10_000;

export interface ActorProcesses {
  stop(): Promise<void>;
  /** Resolves with a description when any actor process exits on its own. */
  exited: Promise<string>;
}

/** Runs each actor copy as its own process (`toolformer actor <name>`), as containers would. */
export function spawnActors(copies: Record<ActorName, number>, env: NodeJS.ProcessEnv): ActorProcesses {
  const children: { name: string; child: ChildProcess }[] = [];
  let stopping = false;
  let reportExit: (why: string) => void = () => {};
  const exited = new Promise<string>((resolve) => (reportExit = resolve));
  for (const [name, count] of Object.entries(copies)) {
    for (let i = 0; i < count; i++) {
      const child = spawn(process.execPath, [BIN, "actor", name], { env, stdio: ["ignore", "inherit", "inherit"] });
      child.once("exit", (code, signal) => {
        if (!stopping) reportExit(`${name} #${i + 1} exited (${signal ?? `code ${code}`})`);
      });
      children.push({ name, child });
    }
  }
  return {
    exited,
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
