import { z } from "zod";
import {
  DiscardPolicy,
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
import {
  KV_BUCKETS,
  MAX_RESULT_CACHE_TTL_MS,
  MAX_TIMEOUT_MS,
  OBJECT_STORES,
  STREAMS,
  tenantJetStreamApiPrefix,
} from "@toolformer/protocol";
import { isTransient } from "./backoff.ts";
import { START_RETRY_WINDOW_MS } from "./jetstream-io.ts";

const MINUTE_MS = 60_000;
const nanos = (ms: number) => ms * 1_000_000;

type StreamName = keyof typeof STREAMS;
type BucketName = keyof typeof KV_BUCKETS;

/**
 * How long a request's recorded progress is kept: twice the longest timeout a request may have. A
 * replay (ADR 0027) finds a request's turns this long.
 */
export const PROGRESS_KEPT_MS = 2 * MAX_TIMEOUT_MS;

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
  // A decision must outlive the longest request that may wait for it (and a takeover of its round).
  approvals: PROGRESS_KEPT_MS,
  // An upper bound only: each entry carries its own expiry (nats-server 2.9 has no per-key TTL).
  resultCache: MAX_RESULT_CACHE_TTL_MS,
  // A claim is renewed while its call runs, so it only has to outlive the redeliveries of a finished call.
  callClaims: PROGRESS_KEPT_MS,
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

/** A cap on what one stream, bucket or object store keeps; -1 is no cap (nats-server's own default). */
export const StorageLimitSchema = z.object({
  maxBytes: z.int().min(-1).default(-1),
  maxMsgs: z.int().min(-1).default(-1),
});
export type StorageLimit = z.infer<typeof StorageLimitSchema>;

const MIB = 1024 * 1024;
/**
 * The default caps sum to about 7 GiB, below the 10 GB `max_file_store` of the configs in nats/, so a full
 * stream is refused its next message instead of the server running out of its store.
 */
export const DEFAULT_STORAGE_LIMITS = {
  streams: {
    requests: { maxBytes: 512 * MIB, maxMsgs: -1 },
    rounds: { maxBytes: 1024 * MIB, maxMsgs: -1 },
    exec: { maxBytes: 512 * MIB, maxMsgs: -1 },
    results: { maxBytes: 1024 * MIB, maxMsgs: -1 },
    events: { maxBytes: 1024 * MIB, maxMsgs: -1 },
    speculation: { maxBytes: 256 * MIB, maxMsgs: -1 },
  },
  buckets: {
    requests: { maxBytes: 256 * MIB, maxMsgs: -1 },
    tools: { maxBytes: 64 * MIB, maxMsgs: -1 },
    rateLimits: { maxBytes: 64 * MIB, maxMsgs: -1 },
    speculationHistory: { maxBytes: 128 * MIB, maxMsgs: -1 },
    speculationCalls: { maxBytes: 128 * MIB, maxMsgs: -1 },
    approvals: { maxBytes: 64 * MIB, maxMsgs: -1 },
    resultCache: { maxBytes: 256 * MIB, maxMsgs: -1 },
    callClaims: { maxBytes: 256 * MIB, maxMsgs: -1 },
  },
  objectStores: { results: { maxBytes: 2048 * MIB, maxMsgs: -1 } },
} as const satisfies StorageLimits;

/** The operator's caps (TF_STORAGE_LIMITS), each falling back to its default. */
export const StorageLimitsSchema = z.object({
  streams: z.partialRecord(z.enum(Object.keys(STREAMS) as [StreamName]), StorageLimitSchema).default({}),
  buckets: z.partialRecord(z.enum(Object.keys(KV_BUCKETS) as [BucketName]), StorageLimitSchema).default({}),
  objectStores: z
    .partialRecord(z.enum(Object.keys(OBJECT_STORES) as [ObjectStoreName]), StorageLimitSchema)
    .default({}),
});
export interface StorageLimits {
  streams: Partial<Record<StreamName, StorageLimit>>;
  buckets: Partial<Record<BucketName, StorageLimit>>;
  objectStores: Partial<Record<ObjectStoreName, StorageLimit>>;
}

/**
 * Creates every stream, bucket and object store, or brings one an older release made up to date, and
 * each tenant account's events stream (`TF_EVENTS`, which keeps the events the orchestrator exports to
 * it), through the tenant's JetStream API as the orchestrator's account reaches it (ADR 0017).
 * The admin's step (`toolformer provision`): actors only bind to what is there. Idempotent, and safe
 * when run twice at once: losing the creation race is not an error.
 */
export async function provision(
  nc: NatsConnection,
  options: { replicas: number; limits?: Partial<StorageLimits>; tenants?: readonly string[] },
): Promise<Provisioned> {
  const limit = <K extends keyof StorageLimits>(kind: K, name: keyof StorageLimits[K] & string): StorageLimit =>
    ((options.limits?.[kind] as Record<string, StorageLimit> | undefined)?.[name] ??
      (DEFAULT_STORAGE_LIMITS[kind] as Record<string, StorageLimit>)[name]) as StorageLimit;
  const jsm = await answeringManager(nc);
  const kvm = new Kvm(nc);
  const objm = new Objm(nc);
  // Side by side: each replicated stream waits for its own group's election, and those waits overlap
  // (on a 3-node cluster one after another took about 7 s, most of a test cluster's start).
  const streams = (Object.keys(STREAMS) as StreamName[]).map((stream) =>
    untilAnswering(() => ensureStream(jsm, streamConfig(stream, options.replicas, limit("streams", stream)))),
  );
  const buckets = (Object.keys(KV_BUCKETS) as BucketName[]).map(async (bucket) => {
    const { maxBytes, maxMsgs } = limit("buckets", bucket);
    const created = await untilAnswering(async () => {
      const opened = await kvm.create(KV_BUCKETS[bucket], {
        replicas: options.replicas,
        history: 1,
        ttl: BUCKET_TTL_MS[bucket],
        max_bytes: maxBytes,
      });
      const { streamInfo } = await opened.status();
      if (options.replicas > 1 && !streamInfo.cluster?.leader) throw new Error(`bucket ${bucket} has no leader yet`);
      await ensureLimits(jsm, streamInfo.config, { maxBytes, maxMsgs });
      await refusedWrite(nc, KV_BUCKETS[bucket]);
      return opened;
    });
    return [bucket, created] as const;
  });
  const stores = (Object.keys(OBJECT_STORES) as ObjectStoreName[]).map(async (store) => {
    const { maxBytes, maxMsgs } = limit("objectStores", store);
    const created = await untilAnswering(async () => {
      const opened = await objm.create(OBJECT_STORES[store], {
        replicas: options.replicas,
        ttl: nanos(OBJECT_STORE_TTL_MS[store]),
        max_bytes: maxBytes,
      });
      const { config } = await jsm.streams.info(`OBJ_${OBJECT_STORES[store]}`);
      await ensureLimits(jsm, config, { maxBytes, maxMsgs });
      return opened;
    });
    return [store, created] as const;
  });
  const tenantStreams = (options.tenants ?? []).map(async (tenant) => {
    const tenantJsm = await answeringManager(nc, tenantJetStreamApiPrefix(tenant));
    await untilAnswering(() =>
      ensureStream(tenantJsm, streamConfig("events", options.replicas, limit("streams", "events"))),
    );
  });
  const [, kv, objectStores] = await Promise.all([
    Promise.all([...streams, ...tenantStreams]),
    Promise.all(buckets).then((entries): Provisioned["kv"] => Object.fromEntries(entries)),
    Promise.all(stores).then((entries): Provisioned["objectStores"] => Object.fromEntries(entries)),
  ]);
  return { jsm, kv, objectStores };
}

/**
 * Opens the streams, buckets and object stores an actor needs, as the admin provisioned them; changes
 * nothing (an actor's role may not). Waits a while for a provisioning step that is still running.
 */
export async function bind(
  nc: NatsConnection,
  needs: { streams: StreamName[]; buckets: BucketName[]; objectStores?: ObjectStoreName[] },
): Promise<Provisioned> {
  const jsm = await answeringManager(nc);
  const notProvisioned = (what: string) => (error: unknown) => {
    throw new Error(`${what} is not provisioned (run \`toolformer provision\` with the admin role): ${String(error)}`, {
      cause: error,
    });
  };
  for (const stream of needs.streams)
    await untilAnswering(() => jsm.streams.info(STREAMS[stream].name)).catch(
      notProvisioned(`stream ${STREAMS[stream].name}`),
    );
  const kvm = new Kvm(nc);
  const kv: Provisioned["kv"] = {};
  for (const bucket of needs.buckets)
    kv[bucket] = await untilAnswering(() => kvm.open(KV_BUCKETS[bucket])).catch(
      notProvisioned(`bucket ${KV_BUCKETS[bucket]}`),
    );
  const objm = new Objm(nc);
  const objectStores: Provisioned["objectStores"] = {};
  for (const store of needs.objectStores ?? [])
    objectStores[store] = await untilAnswering(() => objm.open(OBJECT_STORES[store])).catch(
      notProvisioned(`object store ${OBJECT_STORES[store]}`),
    );
  return { jsm, kv, objectStores };
}

/** A JetStream manager: making one asks for the account's JetStream, which waits for a quorum. */
function answeringManager(nc: NatsConnection, apiPrefix?: string): Promise<JetStreamManager> {
  return untilAnswering(() => jetstreamManager(nc, apiPrefix === undefined ? {} : { apiPrefix }));
}

/**
 * Repeats a step until the servers answer it. Creating a replicated stream or bucket can outlast one
 * request's timeout on a busy cluster (and then succeed), and a new one elects its leader first; until
 * then requests time out or find no responders. Every step here is idempotent, so trying again is safe.
 * Silence, or "JetStream unavailable", is waited out as long as any step of an actor's start is (a
 * cluster without a quorum answers nothing else until it has one again); a refusal (a stream not there
 * yet) for SETTLE_TIMEOUT_MS, as long as a provisioning step still running may take.
 */
async function untilAnswering<T>(ask: () => Promise<T>): Promise<T> {
  const startedAt = Date.now();
  for (;;) {
    try {
      return await ask();
    } catch (error) {
      // A role without the right will not be given it by waiting.
      if (isPermissionViolation(error)) throw error;
      const waitsMs = isTransient(error) ? START_RETRY_WINDOW_MS : SETTLE_TIMEOUT_MS;
      if (Date.now() > startedAt + waitsMs) throw error;
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

function streamConfig(
  stream: StreamName,
  replicas: number,
  limit: StorageLimit,
): Partial<StreamConfig> & { name: string } {
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
    max_bytes: limit.maxBytes,
    max_msgs: limit.maxMsgs,
    // A full stream refuses new work (the edge rejects it) rather than dropping queued or running work;
    // only old events may make room.
    discard: stream === "events" ? DiscardPolicy.Old : DiscardPolicy.New,
  };
}

/** Applies the operator's caps to a stream that exists (they may have changed since it was made). */
async function ensureLimits(jsm: JetStreamManager, current: StreamConfig, limit: StorageLimit): Promise<void> {
  if (current.max_bytes === limit.maxBytes && current.max_msgs === limit.maxMsgs) return;
  await jsm.streams.update(current.name, { max_bytes: limit.maxBytes, max_msgs: limit.maxMsgs });
}

async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    const { config: current } = await jsm.streams.info(config.name);
    // A newer release may carry more subjects in a stream, or keep its messages longer: add the
    // subjects and lengthen the age, never take any subject away or shorten what is kept (messages
    // that other copies still count on would go).
    const missing = (config.subjects ?? []).filter((subject) => !current.subjects.includes(subject));
    const longer = config.max_age !== undefined && current.max_age !== 0 && current.max_age < config.max_age;
    const limitsChanged = current.max_bytes !== config.max_bytes || current.max_msgs !== config.max_msgs;
    if (missing.length > 0 || longer || limitsChanged) {
      await jsm.streams.update(config.name, {
        ...(missing.length > 0 ? { subjects: [...current.subjects, ...missing] } : {}),
        ...(longer ? { max_age: config.max_age } : {}),
        max_bytes: config.max_bytes,
        max_msgs: config.max_msgs,
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

function isPermissionViolation(error: unknown): boolean {
  return /permissions violation/i.test(`${String(error)} ${String((error as Error | undefined)?.cause)}`);
}

function isNotFound(error: unknown): boolean {
  return /not found/i.test(String(error));
}
