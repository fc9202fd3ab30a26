import type { KV, KvEntry } from "@nats-io/kv";
import { ToolRegistrationSchema, type ToolDefinition, type ToolRegistration } from "@toolformer/protocol";
import { decodeValidated, followKv, type KvFollower, type Logger } from "@toolformer/runtime";

/** A registration this much older than the newest refresh heard belongs to an executor that is gone. */
export const REGISTRATION_STALE_MS = 15_000;
/** A registration not refreshed for this long is gone even when the catalog hears no other (every executor died). */
export const REGISTRATION_LOST_MS = 60_000;

/**
 * The tools executors have announced, kept current by watching the catalog bucket. A tool is
 * available while at least one executor's registration of it is fresh: not much older than the newest
 * refresh the catalog has heard. A catalog that hears nothing for a while (its watch made again after
 * a node died, the bucket electing a leader, the executors' refreshes waiting for it) keeps what it
 * knew, up to `REGISTRATION_LOST_MS`, rather than calling every tool unknown.
 */
export class ToolCatalog {
  readonly #registrations = new Map<string, ToolRegistration>();
  #newestRefresh = 0;
  readonly #log: Logger;
  #follower: KvFollower | undefined;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Follows the catalog bucket; the watch outlives a node's death (`followKv`). */
  async start(kv: KV): Promise<void> {
    this.#follower = await followKv(kv, ">", (entry) => this.#apply(entry), this.#log, "the tool catalog");
  }

  stop(): void {
    this.#follower?.stop();
  }

  #apply(entry: KvEntry): void {
    if (entry.operation !== "PUT") return void this.#registrations.delete(entry.key);
    const decoded = decodeValidated(entry.value, undefined, ToolRegistrationSchema, "msgpack");
    if (decoded.ok) {
      this.#registrations.set(entry.key, decoded.value);
      this.#newestRefresh = Math.max(this.#newestRefresh, decoded.value.refreshedAt);
    } else this.#log.warn({ key: entry.key, error: decoded.error }, "ignoring a malformed tool registration");
  }

  /** Tools available now, by name. */
  available(now = Date.now()): Map<string, ToolDefinition> {
    return new Map(this.#fresh(now).map((registration) => [registration.definition.name, registration.definition]));
  }

  /** Calls of the tool its executors run at once, all together; undefined when one of them does not say. */
  capacityOf(tool: string, now = Date.now()): number | undefined {
    let total = 0;
    for (const registration of this.#fresh(now)) {
      if (registration.definition.name !== tool) continue;
      if (registration.capacity === undefined) return undefined;
      total += registration.capacity;
    }
    return total > 0 ? total : undefined;
  }

  #fresh(now: number): ToolRegistration[] {
    return freshRegistrations([...this.#registrations.values()], this.#newestRefresh, now);
  }
}

/** The registrations still fresh at `now`, judged against the newest refresh heard (`ToolCatalog`). */
export function freshRegistrations(
  registrations: readonly ToolRegistration[],
  newestRefresh: number,
  now: number,
): ToolRegistration[] {
  // An executor's clock ahead of this one's does not make the others stale early.
  const heard = Math.min(now, newestRefresh);
  return registrations.filter(
    (r) => heard - r.refreshedAt <= REGISTRATION_STALE_MS && now - r.refreshedAt <= REGISTRATION_LOST_MS,
  );
}
