import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { natsAuthToEnv, type NatsAuth } from "@toolformer/client";
import { spawnActors, type ActorProcesses, type SpawnOptions } from "@toolformer/cli";
import { freePort, type NatsServer } from "@toolformer/testing";

const CLI = fileURLToPath(new URL("../../packages/cli/bin/toolformer.mjs", import.meta.url));
const READY_TIMEOUT_MS = 15_000;

export interface Service {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  const giveUpAt = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < giveUpAt) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not start within ${READY_TIMEOUT_MS} ms`);
}

/** redis-server from Debian's apt on a free loopback port, without persistence (a queue peer, not a store). */
export async function startRedis(): Promise<Service> {
  const binary = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].find((p) => existsSync(p));
  if (!binary)
    throw new Error("redis-server not found: the BullMQ baseline needs it (`apt-get install -y redis-server`)");
  const port = await freePort();
  const child = spawn(binary, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  const url = `redis://127.0.0.1:${port}`;
  await waitFor(async () => {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on("error", () => {}); // refused until the server listens: that is what this loop waits out
    try {
      await redis.connect();
      return (await redis.ping()) === "PONG";
    } finally {
      redis.disconnect();
    }
  }, "redis-server");
  return { url, pid: child.pid ?? 0, stop: () => stop(child) };
}

/** The fake model server as its own process, so serving it costs the load generator nothing. */
export async function startFakeLlmProcess(scenarios: Record<string, unknown>, dir: string): Promise<Service> {
  const file = join(dir, "scenarios.json");
  writeFileSync(file, JSON.stringify(scenarios));
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, "fake-llm", "--port", String(port), "--scenarios", file], {
    stdio: "ignore",
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => (await fetch(`${url}/v1/chat/completions`, { method: "POST", body: "{}" })).status === 400,
    "fake-llm",
  );
  return { url, pid: child.pid ?? 0, stop: () => stop(child) };
}

/**
 * The benchmarks' NATS clients that stand apart from what is measured, each in a process of its own: the
 * remote tools (NATS micro services, `*-tool-process.ts`) and the cancel's bare-hop subscriber.
 */
export const NATS_PROCESSES = {
  agent: fileURLToPath(new URL("./agent-tool-process.ts", import.meta.url)),
  limited: fileURLToPath(new URL("./limited-tool-process.ts", import.meta.url)),
  hopSink: fileURLToPath(new URL("./hop-sink-process.ts", import.meta.url)),
};

/**
 * One of NATS_PROCESSES as its own process, connected as `auth`; resolves once it serves (its first
 * line). `onLine` hears each line it writes after that.
 */
export async function startNatsProcess(
  script: string,
  natsUrl: string,
  auth: NatsAuth,
  onLine: (line: string) => void = () => {},
): Promise<Omit<Service, "url">> {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, NATS_URL: natsUrl, ...natsAuthToEnv(auth) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    let ready = false;
    // Its first line says it serves; each one after it is the process's to tell.
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (ready) return onLine(line);
      ready = true;
      resolve();
    });
    child.once("exit", (code) => reject(new Error(`the process ${script} exited with ${code}`)));
  });
  return { pid: child.pid ?? 0, stop: () => stop(child) };
}

/** Resident set size of a process, bytes (Linux /proc); a process that is gone is an error naming it. */
export function rssBytes(pid: number): number {
  if (!existsSync(`/proc/${pid}/status`)) throw new Error(`process ${pid} died during the benchmark`);
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

/** Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ: 100 on every Linux of note). */
const USER_HZ = 100;

/** CPU time a process has used so far (user + system), milliseconds (Linux /proc). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may itself hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime and stime, fields 14 and 15 of the line
  return (ticks * 1000) / USER_HZ;
}

/** CPU time the whole machine has used so far, all cores, idle and I/O wait left out, milliseconds (Linux /proc). */
export function machineBusyMs(): number {
  const [, ...ticks] = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is counted in user already)
  const busy = ticks.slice(0, 8).reduce((sum, value, index) => (index === 3 || index === 4 ? sum : sum + value), 0);
  return (busy * 1000) / USER_HZ;
}

/**
 * The five actors as processes against a benchmark's server and fake model, each as its own role, with
 * only the tools `env` names (no remote tools). Waiting until they serve is the caller's.
 */
export function spawnBenchActors(
  nats: Pick<NatsServer, "url" | "credentials">,
  fakeLlmUrl: string,
  copies: Parameters<typeof spawnActors>[0],
  env: NodeJS.ProcessEnv,
  options: Omit<SpawnOptions, "credentials"> = {},
): ActorProcesses {
  return spawnActors(
    copies,
    {
      ...process.env,
      NATS_URL: nats.url,
      FAKE_LLM_URL: fakeLlmUrl,
      LOG_LEVEL: "warn",
      TF_EXECUTOR_REMOTE_TOOLS: "false",
      ...env,
    },
    { ...options, credentials: nats.credentials },
  );
}
