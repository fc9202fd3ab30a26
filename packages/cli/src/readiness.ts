import { Svcm } from "@nats-io/services";
import { connect } from "@nats-io/transport-node";
import { connectionOptions, type NatsAuth } from "@toolformer/client";
import { SERVICE_NAMES } from "@toolformer/protocol";
import type { ActorName } from "./commands/actor.ts";

const SERVICE_OF: Record<ActorName, string> = {
  dispatcher: SERVICE_NAMES.dispatcher,
  scheduler: SERVICE_NAMES.scheduler,
  "rate-limiter": SERVICE_NAMES.rateLimiter,
  speculation: SERVICE_NAMES.speculation,
  executor: SERVICE_NAMES.executor,
};

/**
 * Waits until every expected actor copy answers `$SRV.PING` (they register only once serving), and,
 * when executors are expected, until the catalog lists tools. The standard service API is the check,
 * so `nats micro ls` sees the same thing. `auth` must allow `$SRV.PING` (the admin's does).
 */
export async function waitForActors(
  url: string,
  copies: Partial<Record<ActorName, number>>,
  timeoutMs: number,
  auth: NatsAuth,
): Promise<void> {
  const nc = await connect(connectionOptions(url, auth));
  try {
    const client = new Svcm(nc).client({ strategy: "timer", maxWait: 300 });
    const giveUpAt = Date.now() + timeoutMs;
    let missing: string[] = [];
    while (Date.now() < giveUpAt) {
      const seen = new Map<string, number>();
      try {
        for await (const identity of await client.ping()) seen.set(identity.name, (seen.get(identity.name) ?? 0) + 1);
      } catch {
        // "no responders" until the first actor serves: nobody seen yet.
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      missing = (Object.entries(copies) as [ActorName, number][])
        .filter(([name, count]) => (seen.get(SERVICE_OF[name]) ?? 0) < count)
        .map(([name, count]) => `${name} (${seen.get(SERVICE_OF[name]) ?? 0}/${count})`);
      if (missing.length === 0) return;
    }
    throw new Error(`actors not serving after ${timeoutMs} ms: ${missing.join(", ")}`);
  } finally {
    await nc.close();
  }
}
