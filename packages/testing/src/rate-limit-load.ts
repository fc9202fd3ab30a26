import { connect, type NatsConnection } from "@nats-io/transport-node";
import { connectionOptions, type NatsAuth } from "@toolformer/client";
import type { AcquireRequest, AcquireTarget, RateLimitScope } from "@toolformer/protocol";
import { acquirePermits } from "@toolformer/rate-limit-client";

export interface CallerLoad {
  servers: string[];
  /** The callers' credentials: they ask for permits as an actor would (e.g. the dispatcher role's). */
  auth: NatsAuth;
  callers: number;
  /** The scopes every caller asks for, or caller i's own. */
  scopes: RateLimitScope[] | ((caller: number) => RateLimitScope[]);
  durationMs: number;
  /** The tenant of caller i (default one tenant). */
  tenantOf?: (caller: number) => string;
  /** What caller i's calls are for (default the tool `load`): calls for one target share a limiter line. */
  targetOf?: (caller: number) => AcquireTarget;
  /** Connections the callers share, round robin. */
  connections?: number;
}

export interface Grant {
  at: number;
  tenant: string;
}

/** An acquire as an executor would send it for one call of a tool named `load`; fields can be overridden. */
export function permitRequest(
  fields: Pick<AcquireRequest, "callId" | "scopes"> & Partial<Omit<AcquireRequest, "since" | "confirm">>,
): Omit<AcquireRequest, "since" | "confirm"> {
  return {
    requestId: "load",
    attempt: 1,
    deadline: Date.now() + 120_000,
    traceparent: "00-00000000000000000000000000000001-0000000000000001-01",
    target: { kind: "tool", name: "load" },
    tenant: "default",
    priority: 5,
    ...fields,
  };
}

/**
 * Callers that each ask for a permit, note when it arrived, and ask again at once, until the time is
 * up: every caller always waits, so the scope is saturated. Bounded: asks stop at `durationMs`, and
 * the callers still waiting then are aborted.
 */
export async function saturate(load: CallerLoad): Promise<Grant[]> {
  const connections: NatsConnection[] = [];
  for (let i = 0; i < (load.connections ?? 4); i++)
    connections.push(await connect(connectionOptions(load.servers.join(","), load.auth)));
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(new Error("time is up")), load.durationMs);
  const grants: Grant[] = [];
  const caller = async (index: number) => {
    const tenant = load.tenantOf?.(index) ?? "default";
    const nc = connections[index % connections.length]!;
    const scopes = typeof load.scopes === "function" ? load.scopes(index) : load.scopes;
    const target = load.targetOf?.(index);
    for (let n = 0; !stop.signal.aborted; n++) {
      try {
        const { started } = await acquirePermits(
          nc,
          permitRequest({
            requestId: `load-${tenant}`,
            callId: `c${index}-${n}`,
            tenant,
            scopes,
            ...(target ? { target } : {}),
          }),
          stop.signal,
        );
        started();
        if (!stop.signal.aborted) grants.push({ at: Date.now(), tenant });
      } catch (error) {
        if (!stop.signal.aborted) throw error;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: load.callers }, (_, i) => caller(i)));
  } finally {
    clearTimeout(timer);
    await Promise.all(connections.map((nc) => nc.close()));
  }
  return grants.sort((a, b) => a.at - b.at);
}

/** The most grants any window of `intervalMs` (starting at a grant) holds. */
export function maxInAnyWindow(times: number[], intervalMs: number): number {
  let most = 0;
  let end = 0;
  for (let start = 0; start < times.length; start++) {
    while (end < times.length && times[end]! < times[start]! + intervalMs) end++;
    most = Math.max(most, end - start);
  }
  return most;
}
