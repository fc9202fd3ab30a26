import { connect, type NatsConnection } from "@nats-io/transport-node";

/** Connects and keeps reconnecting for as long as the process lives: actors outlive server restarts. */
export async function connectNats(servers: string, name: string): Promise<NatsConnection> {
  return connect({
    servers: servers.split(",").map((s) => s.trim()),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
  });
}
