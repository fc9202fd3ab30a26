import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { nuid, type NatsConnection } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import { ContentType, decode } from "@toolformer/protocol";
import { backoffDelayMs, untilStored, type BackoffPolicy } from "./backoff.ts";
import { MIN_RETRY_WINDOW_MS, publishStored, whileStarting, type RetryOptions } from "./jetstream-io.ts";
import { encodeInternal } from "./wire.ts";

const MAX_CAS_ATTEMPTS = 50;
/**
 * Where every key conflicts with every other, the pause after a conflict before reading again (random
 * up to 1, 2, 4 ... 64 ms), so that unrelated writers racing on the stream spread out.
 */
const CONFLICT_BACKOFF: BackoffPolicy = { firstDelayMs: 1, maxDelayMs: 64 };
/** Keys whose last value a store remembers; beyond it, the oldest is forgotten (and read again when needed). */
const REMEMBERED_KEYS_LIMIT = 10_000;
/** The first release whose clustered streams check a key's expected revision atomically (nats-server#4320). */
const ATOMIC_CLUSTERED_KEY_CAS = [2, 9, 21] as const;

/** KV operations of a CAS update, counted for a metric: `conflict` is a write another writer beat. */
export type CasOperation = "get" | "write" | "conflict";

/**
 * Read-modify-write of keys in one KV bucket by compare-and-set (values are MessagePack). When another
 * writer wins the race, the value is read again and `change` decides again, so no update is lost or
 * doubled. The store remembers the last value it wrote or read per key, so an uncontended update is one
 * write with no read.
 *
 * While the bucket has no leader (a node died, a client reconnects), reads and writes are tried again
 * until `giveUpAt`. Each write carries its own `Nats-Msg-Id`, so a write that timed out after it was
 * stored is acknowledged as a duplicate when tried again (or, refused by a new leader that had not
 * applied it yet, found by its id: `publishStored`, ADR 0042), rather than refused as a conflict and its
 * change applied a second time (a count added twice, a call registered and then not started).
 *
 * On a clustered bucket of a server older than 2.9.21, a key's expected revision is only checked before
 * the write is replicated, so concurrent writers can all win (nats-server#4320, reproduced in this
 * repository's tests on 2.9.10). There the store checks the whole stream's last sequence instead, which
 * those servers do serialize: correct, at the price of conflicts between writers of different keys.
 * There a writer that lost pauses a random, growing moment before it reads again: about 40 requests
 * closing their speculation at once, each its own key, had lost to each other 50 times in a row and
 * given up. Where keys are checked one by one, a conflict is a real race on one key and is retried at
 * once (the rate limiter's hot scopes).
 */
export class KvCasStore {
  readonly #backend: CasBackend;
  readonly #count: (operation: CasOperation) => void;

  private constructor(backend: CasBackend, count: (operation: CasOperation) => void) {
    this.#backend = backend;
    this.#count = count;
  }

  static async open(
    clients: { nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager },
    kv: KV,
    count: (operation: CasOperation) => void = () => {},
  ): Promise<KvCasStore> {
    const status = await whileStarting(() => kv.status());
    const keyCasIsAtomic = status.replicas <= 1 || versionAtLeast(clients.nc.info?.version, ATOMIC_CLUSTERED_KEY_CAS);
    const stream = status.streamInfo.config.name;
    const backend = keyCasIsAtomic
      ? new KeyRevisionBackend(clients.js, kv, stream, status.bucket)
      : new StreamSequenceBackend(clients.js, clients.jsm, stream, status.bucket);
    return new KvCasStore(backend, count);
  }

  /**
   * `change` returns no `next` to leave the key as it is. `readFirst` decides on the stored value rather
   * than the remembered one, for a decision that must not miss another writer's change (not only lose to
   * it). `confirmUnchanged` does so only when a decision on the remembered value would leave the key as
   * it is: a change by another writer that would turn it (a place freed) is otherwise never seen, since
   * only a write meets a conflict. `retry.giveUpAt` bounds the tries while the bucket has no leader (by
   * default MIN_RETRY_WINDOW_MS from now).
   */
  async update<T, R>(
    key: string,
    empty: T,
    change: (current: T) => { next?: T; result: R },
    options: { readFirst?: boolean; confirmUnchanged?: boolean; retry?: RetryOptions } = {},
  ): Promise<R> {
    const retry = options.retry ?? { giveUpAt: Date.now() + MIN_RETRY_WINDOW_MS };
    if (options.readFirst) this.#backend.forget(key);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await untilStored(() => this.#backend.current(key, () => this.#count("get")), retry);
      const { next, result } = change(
        current.value === undefined ? empty : (decode(current.value, ContentType.msgpack) as T),
      );
      if (next === undefined) {
        if (!options.confirmUnchanged || !current.remembered) return result;
        this.#backend.forget(key);
        continue;
      }
      try {
        this.#count("write");
        await this.#backend.write(key, encodeInternal(next), current.token, { ...retry, msgID: nuid.next() });
        return result;
      } catch (error) {
        this.#backend.forget(key); // whatever happened, the next try reads first
        if (!/wrong last sequence|key exists/i.test(String(error))) throw error;
        this.#count("conflict");
        if (this.#backend.keysConflict) await sleep(backoffDelayMs(attempt + 1, CONFLICT_BACKOFF));
      }
    }
    throw new Error(`gave up on key ${key} after ${MAX_CAS_ATTEMPTS} conflicting updates`);
  }
}

interface CasBackend {
  /** Whether a write of one key conflicts with a write of any other (the stream's sequence is checked). */
  readonly keysConflict: boolean;
  /** The key's value to decide on, the token its write must present, and whether it was remembered (not read). */
  current(
    key: string,
    onRead: () => void,
  ): Promise<{ value: Uint8Array | undefined; token: number; remembered: boolean }>;
  /** Tried again until stored or refused; `msgID` makes a try after a timeout that stored it a duplicate. */
  write(key: string, data: Uint8Array, token: number, retry: RetryOptions & { msgID: string }): Promise<void>;
  forget(key: string): void;
}

/**
 * Per-key compare-and-set on the key's revision: writers of different keys never conflict. Writes are
 * published to the key's subject (what `kv.update` does) so that they can carry a message id.
 */
class KeyRevisionBackend implements CasBackend {
  readonly keysConflict = false;
  readonly #js: JetStreamClient;
  readonly #kv: KV;
  readonly #stream: string;
  readonly #subjectPrefix: string;
  readonly #known = new Map<string, { token: number; value: Uint8Array | undefined }>();

  constructor(js: JetStreamClient, kv: KV, stream: string, bucket: string) {
    this.#js = js;
    this.#kv = kv;
    this.#stream = stream;
    this.#subjectPrefix = `$KV.${bucket}.`;
  }

  async current(key: string, onRead: () => void) {
    const known = this.#known.get(key);
    if (known) return { ...known, remembered: true };
    onRead();
    const entry = await this.#kv.get(key);
    const value = entry?.operation === "PUT" && entry.value.length > 0 ? entry.value : undefined;
    return { value, token: entry?.revision ?? 0, remembered: false };
  }

  async write(key: string, data: Uint8Array, token: number, retry: RetryOptions & { msgID: string }) {
    const ack = await publishStored(this.#js, this.#subjectPrefix + key, data, {
      ...retry,
      expect: { lastSubjectSequence: token },
      stream: this.#stream,
    });
    remember(this.#known, key, { token: ack.seq, value: data });
  }

  forget(key: string) {
    this.#known.delete(key);
  }
}

/**
 * Compare-and-set on the stream's last sequence. The stream's sequence is read before the key, and the
 * write expects it: it lands only if nothing at all was written since, so the key read was current.
 */
class StreamSequenceBackend implements CasBackend {
  readonly keysConflict = true;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #stream: string;
  readonly #subjectPrefix: string;
  /** The stream's last sequence as of this store's last write, and key values known to hold at it. */
  #lastSequence: number | undefined;
  readonly #known = new Map<string, Uint8Array | undefined>();

  constructor(js: JetStreamClient, jsm: JetStreamManager, stream: string, bucket: string) {
    this.#js = js;
    this.#jsm = jsm;
    this.#stream = stream;
    this.#subjectPrefix = `$KV.${bucket}.`;
  }

  async current(key: string, onRead: () => void) {
    if (this.#lastSequence !== undefined && this.#known.has(key))
      return { value: this.#known.get(key), token: this.#lastSequence, remembered: true };
    onRead();
    const { state } = await this.#jsm.streams.info(this.#stream);
    const stored = await this.#jsm.streams
      .getMessage(this.#stream, { last_by_subj: this.#subjectPrefix + key })
      .catch((error: unknown) => {
        if (/no message found/i.test(String(error))) return null;
        throw error;
      });
    const operation = stored?.header?.get("KV-Operation");
    const value = stored && !operation && stored.data.length > 0 ? stored.data : undefined;
    if (this.#lastSequence !== state.last_seq) this.#known.clear();
    this.#lastSequence = state.last_seq;
    remember(this.#known, key, value);
    return { value, token: state.last_seq, remembered: false };
  }

  async write(key: string, data: Uint8Array, token: number, retry: RetryOptions & { msgID: string }) {
    const ack = await publishStored(this.#js, this.#subjectPrefix + key, data, {
      ...retry,
      expect: { lastSequence: token },
      stream: this.#stream,
    });
    // Stored right after `token`: nothing was written between, so every value known at `token` still
    // holds. Stored later (a leader elected a moment ago can check the expectation before it has applied
    // every write, nats-server 2.9), other keys may have changed: read them again.
    if (ack.seq !== token + 1) return this.forget();
    this.#lastSequence = ack.seq;
    remember(this.#known, key, data);
  }

  forget() {
    this.#lastSequence = undefined;
    this.#known.clear();
  }
}

function remember<V>(known: Map<string, V>, key: string, value: V): void {
  known.delete(key);
  known.set(key, value);
  if (known.size > REMEMBERED_KEYS_LIMIT) known.delete(known.keys().next().value!);
}

function versionAtLeast(version: string | undefined, minimum: readonly number[]): boolean {
  const parts = (version ?? "0").split(/[.-]/).map((part) => Number.parseInt(part, 10) || 0);
  for (let i = 0; i < minimum.length; i++) {
    const have = parts[i] ?? 0;
    if (have !== minimum[i]) return have > minimum[i]!;
  }
  return true;
}
