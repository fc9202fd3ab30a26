import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { Svcm, type ServiceStats } from "@nats-io/services";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  ContentType,
  decode,
  INTERNAL_SUBJECTS,
  KV_BUCKETS,
  LimiterStatsSchema,
  RATE_LIMIT_KEYS,
  SERVICE_NAMES,
  ScopeUseStateSchema,
  STREAMS,
  ToolRegistrationSchema,
  type LimiterStats,
  type ToolRegistration,
} from "@toolformer/protocol";
import {
  mergeLimiterReports,
  scopeUse,
  toolsWithHosts,
  type ClusterView,
  type ConsumerLagView,
  type ScopeView,
  type ServiceView,
} from "./cluster-view.ts";

/** How long the service API's answers are collected: every copy that answers in time is counted. */
export const DEFAULT_SERVICE_WAIT_MS = 500;

/**
 * Reads the cluster as the viewer role may (ADR 0023): the running copies and the limiters' scopes and
 * lines from the service API (`$SRV.STATS`), the tools and their hosts from the catalog bucket, each
 * durable consumer's lag from JetStream, each scope's use from the rate-limit bucket. What cannot be read
 * (a bucket or stream not provisioned) is left out, not an error.
 */
export async function readCluster(
  nc: NatsConnection,
  options: { serviceWaitMs?: number; now?: () => number } = {},
): Promise<ClusterView> {
  const now = options.now ?? Date.now;
  const stats = await serviceStats(nc, options.serviceWaitMs ?? DEFAULT_SERVICE_WAIT_MS);
  const kvm = new Kvm(nc);
  const [tools, consumers, scopes] = await Promise.all([
    openBucket(kvm, KV_BUCKETS.tools).then((kv) => (kv ? readTools(kv) : [])),
    readLag(nc),
    openBucket(kvm, KV_BUCKETS.rateLimits).then((kv) => readScopes(kv, limiterReports(stats), now)),
  ]);
  return { at: now(), services: servicesOf(stats), tools, consumers, scopes };
}

async function serviceStats(nc: NatsConnection, maxWait: number): Promise<ServiceStats[]> {
  const answers: ServiceStats[] = [];
  try {
    for await (const stats of await new Svcm(nc).client({ strategy: "timer", maxWait }).stats()) answers.push(stats);
  } catch {
    // No service answers ("no responders"): nothing runs.
  }
  return answers;
}

function servicesOf(stats: readonly ServiceStats[]): ServiceView[] {
  const services = new Map<string, ServiceView>();
  for (const answer of stats) {
    const service = services.get(answer.name) ?? { name: answer.name, copies: [] };
    const endpoints = answer.endpoints ?? [];
    service.copies.push({
      id: answer.id,
      ...(answer.metadata?.actorId ? { actorId: answer.metadata.actorId } : {}),
      version: answer.version,
      startedAt: answer.started,
      requests: endpoints.reduce((sum, endpoint) => sum + endpoint.num_requests, 0),
      errors: endpoints.reduce((sum, endpoint) => sum + endpoint.num_errors, 0),
    });
    services.set(answer.name, service);
  }
  for (const service of services.values()) service.copies.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  return [...services.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Each limiter copy's report, from its `acquire` endpoint's stats (`LimiterStatsSchema`). */
function limiterReports(stats: readonly ServiceStats[]): LimiterStats[] {
  return stats
    .filter((answer) => answer.name === SERVICE_NAMES.rateLimiter)
    .flatMap((answer) => answer.endpoints ?? [])
    .filter((endpoint) => endpoint.subject === INTERNAL_SUBJECTS.rateLimitAcquire)
    .flatMap((endpoint) => {
      const parsed = LimiterStatsSchema.safeParse(endpoint.data);
      return parsed.success ? [parsed.data] : [];
    });
}

async function openBucket(kvm: Kvm, bucket: string): Promise<KV | undefined> {
  try {
    return await kvm.open(bucket);
  } catch {
    return undefined;
  }
}

async function readTools(kv: KV): Promise<ClusterView["tools"]> {
  const registrations: ToolRegistration[] = [];
  for await (const key of await kv.keys()) {
    const entry = await kv.get(key);
    if (!entry || entry.operation !== "PUT") continue;
    const parsed = ToolRegistrationSchema.safeParse(decode(entry.value, ContentType.msgpack));
    if (parsed.success) registrations.push(parsed.data);
  }
  return toolsWithHosts(registrations);
}

async function readLag(nc: NatsConnection): Promise<ConsumerLagView[]> {
  const jsm = await jetstreamManager(nc);
  const lag: ConsumerLagView[] = [];
  for (const { name: stream } of Object.values(STREAMS)) {
    try {
      for await (const info of jsm.consumers.list(stream)) {
        // Durables are the actors' work; ephemeral readers (dashboards, watchers) are nobody's backlog.
        if (!info.config.durable_name) continue;
        lag.push({
          stream,
          consumer: info.name,
          pending: info.num_pending,
          ackPending: info.num_ack_pending,
          redelivered: info.num_redelivered,
        });
      }
    } catch {
      // The stream is not provisioned here.
    }
  }
  return lag;
}

/**
 * Each scope's view. A scope with no limit of its own (`blockOnly`: it only honours an upstream's "too
 * many") is shown only while such a block lasts.
 */
async function readScopes(
  kv: KV | undefined,
  reports: readonly LimiterStats[],
  now: () => number,
): Promise<ScopeView[]> {
  const views = await Promise.all(
    mergeLimiterReports(reports, now()).map(async ({ scope, waiting, oldestWaitMs }) => {
      const entry = await kv?.get(RATE_LIMIT_KEYS.scope(scope.key));
      const state =
        entry?.operation === "PUT"
          ? ScopeUseStateSchema.safeParse(decode(entry.value, ContentType.msgpack)).data
          : undefined;
      return {
        key: scope.key,
        limit: scope.limit,
        intervalMs: scope.intervalMs,
        ...(scope.burst === undefined ? {} : { burst: scope.burst }),
        ...(scope.concurrent ? { concurrent: true } : {}),
        ...scopeUse(state, scope, now()),
        waiting,
        ...(oldestWaitMs === undefined ? {} : { oldestWaitMs }),
        blockOnly: scope.blockOnly === true,
      };
    }),
  );
  return views
    .filter((view) => !view.blockOnly || view.blockedForMs !== undefined)
    .map(({ blockOnly, ...view }) => (blockOnly ? { ...view, blockOnly } : view));
}
