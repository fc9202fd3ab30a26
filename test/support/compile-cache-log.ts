import type { ChildProcess } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";

/** What a process started with NODE_DEBUG_NATIVE=COMPILE_CACHE wrote about its TypeScript modules. */
export interface TypeStripping {
  /** Modules whose stripped source Node found in the compile cache. */
  cached: string[];
  /** Modules Node had to strip of their types itself (the type stripper was loaded). */
  stripped: string[];
}

/**
 * Reads Node 24's compile cache debug output (`[compile cache] retrieving transpile cache for
 * StrippedTypeScript file:///...success`, `no transpile cache for StrippedTypeScript file:///...`),
 * each module as a path relative to `root`.
 */
export function typeStripping(stderr: string, root: string): TypeStripping {
  const modules = (pattern: RegExp) =>
    [...stderr.matchAll(pattern)].map((match) => relative(root, fileURLToPath(match[1]!)));
  return {
    cached: modules(/retrieving transpile cache for StrippedTypeScript (\S+)\.\.\.success/g),
    stripped: modules(/no transpile cache for StrippedTypeScript (\S+)/g),
  };
}

/**
 * A bare TCP listener on a free loopback port, to stand in for NATS: a process that connects to it has
 * loaded every module it loads at start and is running. It closes each connection at once.
 */
export async function firstConnection(): Promise<{ port: number; connected: Promise<void>; close(): void }> {
  const listener = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const connected = new Promise<void>((resolve) => listener.once("connection", () => resolve()));
  return { port: (listener.address() as AddressInfo).port, connected, close: () => void listener.close() };
}

/**
 * What `child` wrote on stderr from its start until it connected to `nats`, whereupon `stop` ends it (and
 * the listener closes). Rejects with that stderr if the child exits first.
 */
export async function stderrUntilConnected(
  child: ChildProcess,
  nats: Awaited<ReturnType<typeof firstConnection>>,
  stop: () => unknown,
): Promise<string> {
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    await Promise.race([
      nats.connected,
      exited.then(() => Promise.reject(new Error(`exited before it connected: ${stderr.slice(-2_000)}`))),
    ]);
  } finally {
    await stop();
    await exited;
    nats.close();
  }
  return stderr;
}
