import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { CANCEL_WILDCARD, CancelReason, Header, requestIdFromCancelSubject } from "@toolformer/protocol";

/** How long a cancelled request id is remembered, so work arriving after the broadcast is still dropped. */
export const DEFAULT_CANCEL_MEMORY_MS = 10 * 60_000;

type CancelListener = (reason: CancelReason) => void;

/**
 * Every actor copy hears every cancel broadcast (`orchestrate.cancel.>`, no queue group) and keeps
 * the ids it heard, so a call that reaches it later is dropped instead of started.
 */
export class CancellationWatcher {
  readonly #cancelled = new Map<string, { reason: CancelReason; at: number }>();
  readonly #listeners = new Map<string, Set<CancelListener>>();
  readonly #memoryMs: number;
  #subscription: Subscription | undefined;

  constructor(memoryMs = DEFAULT_CANCEL_MEMORY_MS) {
    this.#memoryMs = memoryMs;
  }

  start(nc: NatsConnection): void {
    this.#subscription = nc.subscribe(CANCEL_WILDCARD, {
      callback: (_error, msg) => {
        const requestId = requestIdFromCancelSubject(msg.subject);
        if (!requestId) return;
        const header = msg.headers?.get(Header.cancelReason);
        this.cancel(requestId, header === CancelReason.timeout ? CancelReason.timeout : CancelReason.client);
      },
    });
  }

  /** Records a cancellation heard (or decided) locally and tells everyone waiting on that request. */
  cancel(requestId: string, reason: CancelReason): void {
    if (this.#cancelled.has(requestId)) return;
    this.#forgetExpired();
    this.#cancelled.set(requestId, { reason, at: Date.now() });
    for (const listener of this.#listeners.get(requestId) ?? []) listener(reason);
    this.#listeners.delete(requestId);
  }

  reasonFor(requestId: string): CancelReason | undefined {
    return this.#cancelled.get(requestId)?.reason;
  }

  /** Calls `listener` once when the request is cancelled (at once if it already was); returns an unsubscribe. */
  onCancel(requestId: string, listener: CancelListener): () => void {
    const known = this.#cancelled.get(requestId);
    if (known) {
      listener(known.reason);
      return () => {};
    }
    let listeners = this.#listeners.get(requestId);
    if (!listeners) this.#listeners.set(requestId, (listeners = new Set()));
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) this.#listeners.delete(requestId);
    };
  }

  async stop(): Promise<void> {
    await this.#subscription?.drain();
  }

  #forgetExpired(): void {
    const horizon = Date.now() - this.#memoryMs;
    for (const [id, entry] of this.#cancelled) {
      if (entry.at >= horizon) break; // insertion order is time order
      this.#cancelled.delete(id);
    }
  }
}
