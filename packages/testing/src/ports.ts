import { createServer } from "node:net";

/** A TCP port free on loopback right now (the OS picks it; a restart can then reuse it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port assigned")),
      );
    });
  });
}

/**
 * Ports below Linux's default ephemeral range (32768-60999), which `listen(0)` and every outgoing
 * connection draw from.
 */
const STABLE_PORTS = { from: 20_000, to: 32_767 };

/**
 * A free port outside the ephemeral range, for a server that is killed and started again on the same
 * port: while it is down, no test binding port 0 and no outgoing connection can be given its port.
 */
export async function freeStablePort(): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const port = STABLE_PORTS.from + Math.floor(Math.random() * (STABLE_PORTS.to - STABLE_PORTS.from + 1));
    if (await isFree(port)) return port;
  }
  throw new Error(`no free port in ${STABLE_PORTS.from}-${STABLE_PORTS.to} after 100 tries`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}
