import { RequestOne } from "@nats-io/nats-core/internal";

/**
 * nats.js (3.4.0) ends every request that got its answer through `cancel()`, which rejects the
 * already-resolved promise with a fresh `RequestError("cancelled")`: an Error with a captured stack
 * that nobody can see (a settled promise ignores the rejection). Every JetStream publish and KV write
 * is such a request; profiled under the throughput workload, building that Error was 4-8% of the
 * executor's, scheduler's and dispatcher's CPU (`noAsyncTraces` does not cover it).
 *
 * This ends an answered request the way `cancel()` does (timer, mux entry) minus the Error nobody
 * sees. Failures, timeouts and explicit cancels keep the client's own path. The version is pinned; the
 * shape this relies on (`timer`, `mux`, `deferred`) is checked when applied, and its test
 * (settled-requests.test.ts) fails if an upgrade changes it.
 */
interface RequestInternals {
  timer?: { cancel(): void };
  mux: { cancel(request: unknown): void };
  deferred: { resolve(value: unknown): void };
}

let applied = false;

/** Applies the change once per process; safe to call from every connection. */
export function settleAnsweredRequestsQuietly(): void {
  if (applied) return;
  applied = true;
  const proto = RequestOne.prototype as unknown as {
    resolver(this: RequestInternals, err: Error | null, msg: unknown): void;
  };
  const original = proto.resolver;
  proto.resolver = function (this: RequestInternals, err, msg) {
    if (err || typeof this.mux?.cancel !== "function" || typeof this.deferred?.resolve !== "function")
      return original.call(this, err, msg);
    this.timer?.cancel();
    this.deferred.resolve(msg);
    this.mux.cancel(this);
  };
}
