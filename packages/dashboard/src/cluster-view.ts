import type { LimiterStats, RateLimitScope, ScopeUseState, ToolRegistration } from "@toolformer/protocol";

/** One running copy of a service, as it answers `$SRV.STATS`. */
export interface ServiceCopyView {
  /** The service API's instance id. */
  id: string;
  /** The actor's own id (its log lines and tool registrations name it), when it says. */
  actorId?: string;
  version: string;
  startedAt: string;
  /** Requests and errors over its endpoints since it started. */
  requests: number;
  errors: number;
}

export interface ServiceView {
  name: string;
  copies: ServiceCopyView[];
}

/** A tool and the executors that host it now (their registrations in the catalog bucket). */
export interface ToolView {
  name: string;
  source: string;
  hosts: { executorId: string; refreshedAt: number; capacity?: number }[];
}

/** How far a durable consumer is behind its stream. */
export interface ConsumerLagView {
  stream: string;
  consumer: string;
  /** Messages not yet delivered. */
  pending: number;
  /** Delivered, not yet acknowledged. */
  ackPending: number;
  redelivered: number;
}

/** A rate-limit scope: its use against its limit now, and the calls waiting for it. */
export interface ScopeView {
  key: string;
  limit: number;
  intervalMs: number;
  burst?: number;
  concurrent?: boolean;
  /** No limit of its own: it only honours an upstream's "too many" (shown while that block lasts). */
  blockOnly?: boolean;
  /** What the admissions in the window ending now cost (holders, for a concurrency cap). */
  used: number;
  /** The most the window admits: `limit`, plus `burst` for a token bucket. */
  capacity: number;
  /** Calls waiting in the scope's line, over every limiter copy. */
  waiting: number;
  /** How long the longest of them has waited, ms. */
  oldestWaitMs?: number;
  /** An upstream's "too many" blocks the scope this much longer, ms. */
  blockedForMs?: number;
}

export interface ClusterView {
  /** When it was read, epoch ms. */
  at: number;
  services: ServiceView[];
  tools: ToolView[];
  consumers: ConsumerLagView[];
  scopes: ScopeView[];
}

/** The scopes of every limiter copy's report as one list: a scope's waiting lines summed over the copies. */
export function mergeLimiterReports(
  reports: readonly LimiterStats[],
  now: number,
): { scope: RateLimitScope; waiting: number; oldestWaitMs?: number }[] {
  const merged = new Map<string, { scope: RateLimitScope; waiting: number; oldestSince?: number }>();
  for (const { scopes } of reports)
    for (const { scope, waiting, oldestSince } of scopes) {
      const entry = merged.get(scope.key) ?? { scope, waiting: 0 };
      entry.waiting += waiting;
      if (oldestSince !== undefined) entry.oldestSince = Math.min(entry.oldestSince ?? oldestSince, oldestSince);
      merged.set(scope.key, entry);
    }
  return [...merged.values()]
    .sort((a, b) => a.scope.key.localeCompare(b.scope.key))
    .map(({ scope, waiting, oldestSince }) => ({
      scope,
      waiting,
      ...(oldestSince === undefined ? {} : { oldestWaitMs: Math.max(0, now - oldestSince) }),
    }));
}

/**
 * A scope's use now from its stored state: the cost of the admissions logged in the last `intervalMs`
 * (for a concurrency cap, the places taken or renewed within their lease: one its executor stopped
 * renewing, having died, is free though still logged).
 */
export function scopeUse(
  state: ScopeUseState | undefined,
  scope: RateLimitScope,
  now: number,
): { used: number; capacity: number; blockedForMs?: number } {
  const starts = state?.starts ?? [];
  const live = starts.filter(([at]) => at > now - scope.intervalMs);
  const used = live.reduce((sum, entry) => sum + (entry[2] ?? 1), 0);
  const blockedUntil = state?.blockedUntil;
  return {
    used,
    capacity: scope.concurrent ? scope.limit : scope.limit + (scope.burst ?? 0),
    ...(blockedUntil !== undefined && blockedUntil > now ? { blockedForMs: blockedUntil - now } : {}),
  };
}

/** The catalog's registrations (one per tool and executor) as one entry per tool with its hosts. */
export function toolsWithHosts(registrations: readonly ToolRegistration[]): ToolView[] {
  const tools = new Map<string, ToolView>();
  for (const { definition, executorId, refreshedAt, capacity } of registrations) {
    const tool = tools.get(definition.name) ?? { name: definition.name, source: definition.source, hosts: [] };
    tool.hosts.push({ executorId, refreshedAt, ...(capacity === undefined ? {} : { capacity }) });
    tools.set(definition.name, tool);
  }
  for (const tool of tools.values()) tool.hosts.sort((a, b) => a.executorId.localeCompare(b.executorId));
  return [...tools.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** How many samples of each scope's use the history keeps (one per read of the cluster). */
export const DEFAULT_HISTORY_SAMPLES = 90;

/** Each scope's use over the last reads, for the dashboard's use-over-time chart. */
export class ScopeHistory {
  readonly #samples = new Map<string, [at: number, used: number][]>();
  readonly #max: number;

  constructor(maxSamples = DEFAULT_HISTORY_SAMPLES) {
    this.#max = maxSamples;
  }

  record(view: Pick<ClusterView, "at" | "scopes">): void {
    for (const scope of view.scopes) {
      const samples = this.#samples.get(scope.key) ?? [];
      samples.push([view.at, scope.used]);
      if (samples.length > this.#max) samples.shift();
      this.#samples.set(scope.key, samples);
    }
  }

  /** Samples `[epoch ms, used]` by scope key, oldest first. */
  toJSON(): Record<string, [number, number][]> {
    return Object.fromEntries(this.#samples);
  }
}
