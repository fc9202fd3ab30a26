import { headers, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import {
  CALL_CANCEL_WILDCARD,
  CallCancelSchema,
  callCancelSubject,
  CANCEL_WILDCARD,
  CancelReason,
  ContentType,
  encode,
  Header,
  requestIdFromCancelSubject,
  type CallCancel,
} from "@toolformer/protocol";
import type { CancelMetrics } from "./cancel-metrics.ts";
import { decodeValidated } from "./wire.ts";

/** How long a cancelled request or call is remembered, so work arriving after the broadcast is still dropped. */
export const DEFAULT_CANCEL_MEMORY_MS = 10 * 60_000;

type CancelListener = (reason: CancelReason) => void;

/** What was cancelled (by key), remembered for a while, and who waits to hear about it. */
class CancelBook {
  readonly #cancelled = new Map<string, { reason: CancelReason; at: number }>();
  readonly #listeners = new Map<string, Set<CancelListener>>();
  readonly #memoryMs: number;

  constructor(memoryMs: number) {
    this.#memoryMs = memoryMs;
  }

  /** Says whether this was news (the first time `key` was cancelled). */
  cancel(key: string, reason: CancelReason): boolean {
    if (this.#cancelled.has(key)) return false;
    this.#forgetExpired();
    this.#cancelled.set(key, { reason, at: Date.now() });
    for (const listener of this.#listeners.get(key) ?? []) listener(reason);
    this.#listeners.delete(key);
    return true;
  }

  reasonFor(key: string): CancelReason | undefined {
    return this.#cancelled.get(key)?.reason;
  }

  /** When `key`'s cancel was heard, epoch ms. */
  heardAt(key: string): number | undefined {
    return this.#cancelled.get(key)?.at;
  }

  onCancel(key: string, listener: CancelListener): () => void {
    const known = this.#cancelled.get(key);
    if (known) {
      listener(known.reason);
      return () => {};
    }
    let listeners = this.#listeners.get(key);
    if (!listeners) this.#listeners.set(key, (listeners = new Set()));
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) this.#listeners.delete(key);
    };
  }

  #forgetExpired(): void {
    const horizon = Date.now() - this.#memoryMs;
    for (const [key, entry] of this.#cancelled) {
      if (entry.at >= horizon) break; // insertion order is time order
      this.#cancelled.delete(key);
    }
  }
}

const callKey = (requestId: string, callId: string) => JSON.stringify([requestId, callId]);

/**
 * Every actor copy hears every cancel broadcast, of whole requests (`orchestrate.cancel.>`) and of
 * single calls (`orchestrate.call.cancel.>`), no queue group, and keeps what it heard, so work that
 * reaches it later is dropped instead of started.
 */
export class CancellationWatcher {
  readonly #requests: CancelBook;
  readonly #calls: CancelBook;
  readonly #metrics: CancelMetrics | undefined;
  #subscriptions: Subscription[] = [];

  constructor(memoryMs = DEFAULT_CANCEL_MEMORY_MS, metrics?: CancelMetrics) {
    this.#requests = new CancelBook(memoryMs);
    this.#calls = new CancelBook(memoryMs);
    this.#metrics = metrics;
  }

  start(nc: NatsConnection): void {
    this.#subscriptions = [
      nc.subscribe(CANCEL_WILDCARD, {
        callback: (_error, msg) => {
          const requestId = requestIdFromCancelSubject(msg.subject);
          if (!requestId) return;
          const header = msg.headers?.get(Header.cancelReason);
          this.cancel(requestId, header === CancelReason.timeout ? CancelReason.timeout : CancelReason.client);
        },
      }),
      nc.subscribe(CALL_CANCEL_WILDCARD, {
        callback: (_error, msg) => {
          const decoded = decodeValidated(msg.data, msg.headers, CallCancelSchema);
          if (!decoded.ok) return;
          const { requestId, callId, reason } = decoded.value;
          if (this.#calls.cancel(callKey(requestId, callId), reason)) this.#metrics?.heard("call", reason);
        },
      }),
    ];
  }

  /** Records a cancellation heard (or decided) locally and tells everyone waiting on that request. */
  cancel(requestId: string, reason: CancelReason): void {
    if (this.#requests.cancel(requestId, reason)) this.#metrics?.heard("request", reason);
  }

  reasonFor(requestId: string): CancelReason | undefined {
    return this.#requests.reasonFor(requestId);
  }

  /** When this copy heard the request's cancel (epoch ms), or else the one call's (undefined: neither). */
  heardAt(requestId: string, callId?: string): number | undefined {
    return (
      this.#requests.heardAt(requestId) ??
      (callId === undefined ? undefined : this.#calls.heardAt(callKey(requestId, callId)))
    );
  }

  /** Calls `listener` once when the request is cancelled (at once if it already was); returns an unsubscribe. */
  onCancel(requestId: string, listener: CancelListener): () => void {
    return this.#requests.onCancel(requestId, listener);
  }

  /** Calls `listener` once when this one call is cancelled (at once if it already was); returns an unsubscribe. */
  onCallCancel(requestId: string, callId: string, listener: CancelListener): () => void {
    return this.#calls.onCancel(callKey(requestId, callId), listener);
  }

  async stop(): Promise<void> {
    await Promise.all(this.#subscriptions.map((subscription) => subscription.drain()));
  }
}

/** Broadcasts that one call should stop: to the executors running it and to the service behind a remote tool. */
export function publishCallCancel(nc: NatsConnection, cancel: CallCancel): void {
  const h = headers();
  h.set(Header.contentType, ContentType.json);
  h.set(Header.requestId, cancel.requestId);
  h.set(Header.callId, cancel.callId);
  h.set(Header.cancelReason, cancel.reason);
  nc.publish(callCancelSubject(cancel.tool), encode(cancel, ContentType.json), { headers: h });
}
