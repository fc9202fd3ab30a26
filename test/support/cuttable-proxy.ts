import { createServer, connect, type Socket } from "node:net";

/** A TCP proxy on 127.0.0.1 in front of one server, whose connections a test can cut and let back. */
export interface CuttableProxy extends AsyncDisposable {
  /** The proxy's address, with the target's scheme (`nats://127.0.0.1:<port>`). */
  url: string;
  /** Drops every connection through the proxy, and every new one until `restore()`. */
  cut(): void;
  restore(): void;
}

/**
 * Starts a proxy to `targetUrl` (`scheme://host:port`). A cut connection is destroyed, as when a
 * network path fails: what was on its way through it is lost, and the peers see a closed socket.
 */
export async function startCuttableProxy(targetUrl: string): Promise<CuttableProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  let isCut = false;
  const server = createServer((incoming) => {
    if (isCut) return void incoming.destroy();
    const outgoing = connect(Number(target.port), target.hostname);
    for (const [socket, other] of [
      [incoming, outgoing],
      [outgoing, incoming],
    ] as const) {
      sockets.add(socket);
      socket.pipe(other);
      socket.on("error", () => other.destroy());
      socket.on("close", () => {
        sockets.delete(socket);
        other.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const dropAll = () => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    url: `${target.protocol}//127.0.0.1:${port}`,
    cut() {
      isCut = true;
      dropAll();
    },
    restore() {
      isCut = false;
    },
    async [Symbol.asyncDispose]() {
      isCut = true;
      dropAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
