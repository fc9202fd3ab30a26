import {
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { KV_BUCKETS, MAX_TIMEOUT_MS, OBJECT_STORES, STREAMS } from "@toolformer/protocol";

const MINUTE_MS = 60_000;
const nanos = (ms: number) => ms * 1_000_000;

type StreamName = keyof typeof STREAMS;
type BucketName = keyof typeof KV_BUCKETS;

/** How long a request's recorded progress is kept: twice the longest timeout a request may have. */
const PROGRESS_KEPT_MS = 2 * MAX_TIMEOUT_MS;

/** Retention of each stream: work queues lose a message once acked; logs expire by age. */
const STREAM_SETTINGS: Record<StreamName, { retention: RetentionPolicy; maxAgeMs: number }> = {
  requests: { retention: RetentionPolicy.Workqueue, maxAgeMs: 24 * 60 * MINUTE_MS },
  // A request's progress (turns, rounds, results) must outlive the longest request: a copy that takes
  // it over near its deadline replays it from the start.
  rounds: { retention: RetentionPolicy.Limits, maxAgeMs: PROGRESS_KEPT_MS },
  exec: { retention: RetentionPolicy.Workqueue, maxAgeMs: 24 * 60 * MINUTE_MS },
  results: { retention: RetentionPolicy.Limits, maxAgeMs: PROGRESS_KEPT_MS },
  events: { retention: RetentionPolicy.Limits, maxAgeMs: 24 * 60 * MINUTE_MS },
  speculation: { retention: RetentionPolicy.Limits, maxAgeMs: 60 * MINUTE_MS },
};

const BUCKET_TTL_MS: Record<BucketName, number> = {
  requests: 24 * 60 * MINUTE_MS,
  tools: 5 * MINUTE_MS,
  rateLimits: 0,
  speculationHistory: 0,
  speculationCalls: 60 * MINUTE_MS,
};

const SETTLE_TIMEOUT_MS = 15_000;
const SETTLE_RETRY_MS = 250;

/** Duplicate window: a re-sent message with the same Nats-Msg-Id inside it is dropped by the server. */
const DUPLICATE_WINDOW_MS = 2 * MINUTE_MS;

export interface Provisioned {
  jsm: JetStreamManager;
  kv: Partial<Record<BucketName, KV>>;
  objectStores: Partial<Record<ObjectStoreName, ObjectStore>>;
}

type ObjectStoreName = keyof typeof OBJECT_STORES;
/** How long a spilled result is kept: long enough to read the reply, short enough not to pile up. */
const OBJECT_STORE_TTL_MS: Record<ObjectStoreName, number> = { results: 60 * MINUTE_MS };

/**
 * Creates the streams and buckets an actor needs, or uses them as they are. Idempotent and safe when
 * several actors start at once: losing the creation race is not an error.
 */
export async function provision(
  nc: NatsConnection,
  needs: { streams: StreamName[]; buckets: BucketName[]; objectStores?: ObjectStoreName[]; replicas: number },
): Promise<Provisioned> {
  const jsm = await jetstreamManager(nc);
  for (const stream of needs.streams)
    await untilAnswering(() => ensureStream(jsm, streamConfig(stream, needs.replicas)));
  const kvm = new Kvm(nc);
  const kv: Provisioned["kv"] = {};
  for (const bucket of needs.buckets) {
    kv[bucket] = await untilAnswering(async () => {
      const created = await kvm.create(KV_BUCKETS[bucket], {
        replicas: needs.replicas,
        history: 1,
        ttl: BUCKET_TTL_MS[bucket],
      });
      const { streamInfo } = await created.status();
      if (needs.replicas > 1 && !streamInfo.cluster?.leader) throw new Error(`bucket ${bucket} has no leader yet`);
      await refusedWrite(nc, KV_BUCKETS[bucket]);
      return created;
    });
  }
  const objm = new Objm(nc);
  const objectStores: Provisioned["objectStores"] = {};
  for (const store of needs.objectStores ?? []) {
    objectStores[store] = await untilAnswering(() =>
      objm.create(OBJECT_STORES[store], { replicas: needs.replicas, ttl: nanos(OBJECT_STORE_TTL_MS[store]) }),
    );
  }
  return { jsm, kv, objectStores };
}

/**
 * Repeats a step until the servers answer it. Creating a replicated stream or bucket can outlast one
 * request's timeout on a busy cluster (and then succeed), and a new one elects its leader first; until
 * then requests time out or find no responders. Every step here is idempotent, so trying again is safe.
 */
async function untilAnswering<T>(ask: () => Promise<T>): Promise<T> {
  const giveUpAt = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    try {
      return await ask();
    } catch (error) {
      if (Date.now() > giveUpAt) throw error;
      await new Promise((resolve) => setTimeout(resolve, SETTLE_RETRY_MS));
    }
  }
}

/**
 * A leader is elected before every node of a cluster routes the bucket's subjects to it, and a put in
 * between finds no responders. A write that expects an impossible last sequence is answered with a
 * refusal, stores nothing, and proves that writes from this connection arrive.
 */
async function refusedWrite(nc: NatsConnection, bucketName: string): Promise<void> {
  try {
    await jetstream(nc).publish(`$KV.${bucketName}.provisioning-probe`, new Uint8Array(), {
      expect: { lastSubjectSequence: Number.MAX_SAFE_INTEGER },
    });
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamWrongLastSequence) return;
    throw error;
  }
  throw new Error(`bucket ${bucketName} stored a write that expected an impossible sequence`);
}

function streamConfig(stream: StreamName, replicas: number): Partial<StreamConfig> & { name: string } {
  const { name, subjects } = STREAMS[stream];
  const settings = STREAM_SETTINGS[stream];
  return {
    name,
    subjects: [...subjects],
    retention: settings.retention,
    storage: StorageType.File,
    num_replicas: replicas,
    max_age: nanos(settings.maxAgeMs),
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  };
}

async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    const { config: current } = await jsm.streams.info(config.name);
    // A newer release may carry more subjects in a stream, or keep its messages longer: add the
    // subjects and lengthen the age, never take any subject away or shorten what is kept (messages
    // that other copies still count on would go).
    const missing = (config.subjects ?? []).filter((subject) => !current.subjects.includes(subject));
    const longer = config.max_age !== undefined && current.max_age !== 0 && current.max_age < config.max_age;
    if (missing.length > 0 || longer) {
      await jsm.streams.update(config.name, {
        ...(missing.length > 0 ? { subjects: [...current.subjects, ...missing] } : {}),
        ...(longer ? { max_age: config.max_age } : {}),
      });
    }
    return;
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  try {
    await jsm.streams.add(config);
  } catch (error) {
    if (!/already in use/i.test(String(error))) throw error;
  }
}

function isNotFound(error: unknown): boolean {
  return /not found/i.test(String(error));
}
