import type { NatsConnection } from "@nats-io/transport-node";

/**
 * How long a copy may stay without its NATS connection before `/healthz` fails and Kubernetes restarts
 * it. The client reconnects on its own (a node's restart, a lame-duck move take a second or two), so
 * only a connection gone for longer than this is treated as one the process will not get back.
 */
export const DEFAULT_LIVENESS_DISCONNECTED_MS = 30_000;

/** Where a copy's connection stands, as the health endpoints see it. */
export interface ConnectionState {
  /** `closed`: the client gave up or was closed; it never comes back. */
  status: "connected" | "disconnected" | "closed";
  /** When the connection entered this status (ms since the epoch). */
  sinceMs: number;
}

export interface HealthVerdict {
  ok: boolean;
  reason: string;
}

/** Liveness: fails once the connection is closed, or has been down longer than `maxDisconnectedMs`. */
export function liveness(state: ConnectionState, nowMs: number, maxDisconnectedMs: number): HealthVerdict {
  if (state.status === "closed") return { ok: false, reason: "the NATS connection is closed" };
  if (state.status === "disconnected") {
    const downMs = nowMs - state.sinceMs;
    return downMs > maxDisconnectedMs
      ? { ok: false, reason: `no NATS connection for ${downMs} ms (limit ${maxDisconnectedMs} ms)` }
      : { ok: true, reason: `reconnecting to NATS for ${downMs} ms` };
  }
  return { ok: true, reason: "connected to NATS" };
}

/**
 * Readiness: the copy is bound to what the admin provisioned and serves (`serving`), is not stopping,
 * and is connected now. A copy that lost its connection is taken out at once; liveness waits longer.
 */
export function readiness(state: ConnectionState, serving: boolean): HealthVerdict {
  if (!serving) return { ok: false, reason: "not serving (starting, or stopping)" };
  if (state.status !== "connected") return { ok: false, reason: `NATS connection ${state.status}` };
  return { ok: true, reason: "serving, connected to NATS" };
}

/** Follows a connection's status events; `state` is what the health endpoints judge. */
export class ConnectionWatch {
  #state: ConnectionState;

  constructor(nc: NatsConnection, now: () => number = Date.now) {
    this.#state = { status: nc.isClosed() ? "closed" : "connected", sinceMs: now() };
    const enter = (status: ConnectionState["status"]) => {
      if (this.#state.status !== status && this.#state.status !== "closed") this.#state = { status, sinceMs: now() };
    };
    void (async () => {
      for await (const event of nc.status()) {
        if (event.type === "disconnect" || event.type === "reconnecting") enter("disconnected");
        else if (event.type === "reconnect") enter("connected");
        else if (event.type === "close") enter("closed");
      }
    })();
    void nc.closed().then(() => enter("closed"));
  }

  get state(): ConnectionState {
    return this.#state;
  }
}
