/**
 * Rate limiting between actors (MessagePack) and the operator's scope configuration (JSON file, kept in
 * the rate-limit bucket for every actor to read).
 */
import { z } from "zod";
import { hash32 } from "../ids.ts";
import { EnvelopeSchema } from "./internal.ts";
import { RateLimitSchema, RateLimitScopeSchema, type RateLimitScope } from "./tools.ts";

/**
 * Extra spacing added to every rate-limit window. A permit is granted by a limiter but the call starts a
 * hop later at the upstream; the guard absorbs the difference in those delays between two calls, so the
 * limit still holds where the upstream counts (about 1% of capacity on a one-second window). A grant that
 * reaches its caller later than this after its start was counted is confirmed before the call starts.
 */
export const RATE_LIMIT_START_GUARD_MS = 15;

/**
 * How long a concurrency place is kept without news from its holder (its executor died, or none of its
 * renewals reached a limiter): the scope's `intervalMs`. The executor running the call renews it every
 * third of this (docs/adr/0035), so a dead executor's place frees within about this long.
 */
export const CONCURRENCY_LEASE_MS = 30_000;
/** Renewals per lease: two lost in a row still keep the place. */
const CONCURRENCY_RENEWALS_PER_LEASE = 3;
/** How often the executor running a call renews its places under a lease of `leaseMs`. */
export function concurrencyRenewMs(leaseMs: number): number {
  return Math.max(1, Math.floor(leaseMs / CONCURRENCY_RENEWALS_PER_LEASE));
}
/** How often the executor running a call renews its places under the default lease (10 s). */
export const CONCURRENCY_RENEW_MS = concurrencyRenewMs(CONCURRENCY_LEASE_MS);
/**
 * A concurrency cap's scope: `limit` places, each held from its grant until released, or until its lease
 * (`leaseMs`) passes without a renewal.
 */
export function concurrencyScope(key: string, limit: number, leaseMs = CONCURRENCY_LEASE_MS): RateLimitScope {
  return { key, limit, intervalMs: leaseMs, concurrent: true };
}

/** How often a full concurrency scope is looked at again (releases can come through any limiter copy). */
export const CONCURRENCY_RECHECK_MS = 25;

/** The longest a limiter holds an acquire before answering "ask again" (so a dead limiter is noticed). */
export const ACQUIRE_HOLD_MS = 5_000;

/** What an acquire is for, so operator-configured scopes (docs/rate-limits.md) can match it. */
export const AcquireTargetSchema = z.object({ kind: z.enum(["tool", "model"]), name: z.string().min(1).max(256) });
export type AcquireTarget = z.infer<typeof AcquireTargetSchema>;

/**
 * Calls are shared out among the limiter copies by what they are for: every call for one tool or model
 * goes to the line (subject `tf.ratelimit.line.<n>`) of the one copy that owns it, so its waiters form one
 * fair line however many copies run, and different tools spread over the copies.
 */
export const RATE_LIMIT_LINES = 64;

export function rateLimitLineOf(target: AcquireTarget): number {
  return hash32(`${target.kind}:${target.name}`) % RATE_LIMIT_LINES;
}

/** A limiter copy is alive (sent every second), or leaving now: the copies share out the lines by these. */
export const LimiterPresenceSchema = z.object({
  limiterId: z.string().min(1).max(128),
  leaving: z.boolean().default(false),
});
export type LimiterPresence = z.infer<typeof LimiterPresenceSchema>;

/**
 * Ask for permission to start one call under every scope at once (all or nothing). A limiter holds the
 * request while the call waits its turn, and answers when it is granted, can no longer be in time, is
 * cancelled, or has been held for a while (then the caller asks again, keeping `since`).
 */
export const AcquireRequestSchema = EnvelopeSchema.extend({
  callId: z.string(),
  scopes: z.array(RateLimitScopeSchema).max(16),
  target: AcquireTargetSchema,
  tenant: z.string().min(1).max(64),
  priority: z.int().min(0).max(9),
  /** When the caller first asked, epoch ms: waiting lines are first-come-first-served by this. */
  since: z.number(),
  /** Asking again for a grant that arrived late: answered at once, the start moved to now. */
  confirm: z.boolean().default(false),
});
export type AcquireRequest = z.infer<typeof AcquireRequestSchema>;

export const AcquireReplySchema = z.discriminatedUnion("granted", [
  z.object({
    granted: z.literal(true),
    /** How long the limiter held the request; the rest of the round trip was transit. */
    heldMs: z.number().min(0),
    /** How long before this answer the scopes counted the call's start (absent: no scope counts starts). */
    countedAgoMs: z.number().min(0).optional(),
    /** The scopes whose lines the call waited in before this grant (absent: it waited for none). */
    waitedFor: z.array(z.string()).optional(),
  }),
  z.object({
    granted: z.literal(false),
    /** `deadline`: no room before the request's deadline; `cancelled`: the request was cancelled; `again`: held long enough, ask again. */
    reason: z.enum(["deadline", "cancelled", "again"]),
    retryAfterMs: z.number().min(0),
    scope: z.string(),
  }),
]);
export type AcquireReply = z.infer<typeof AcquireReplySchema>;

/**
 * After the fact: `correct` sets what an admitted acquire really cost (tokens known once the model
 * answered); `block` admits nothing on a scope until a time, when the upstream itself said "too many";
 * `renew` and `release` keep or give back the places of a call that holds concurrency places.
 */
export const RateLimitFeedbackSchema = z.discriminatedUnion("op", [
  EnvelopeSchema.extend({
    op: z.literal("correct"),
    callId: z.string(),
    scope: RateLimitScopeSchema,
    cost: z.int().min(0),
  }),
  EnvelopeSchema.extend({ op: z.literal("block"), scope: RateLimitScopeSchema, until: z.number() }),
  /** The call ended: its places on these (concurrency) scopes are free again. */
  EnvelopeSchema.extend({ op: z.literal("release"), callId: z.string(), scopes: z.array(RateLimitScopeSchema).min(1) }),
  /**
   * The call still runs: its places on these (concurrency) scopes start their lease again. Only a place
   * still held is kept; one already gone is not taken again (a renewal admits nothing).
   */
  EnvelopeSchema.extend({ op: z.literal("renew"), callId: z.string(), scopes: z.array(RateLimitScopeSchema).min(1) }),
]);
export type RateLimitFeedback = z.infer<typeof RateLimitFeedbackSchema>;

/** Which acquires an operator scope applies to: an empty `match` applies to everything. */
const ScopeMatchSchema = z
  .strictObject({
    kind: z.enum(["tool", "model"]).optional(),
    /** Tool names, or model references such as `openai:gpt-4o`. */
    names: z.array(z.string()).min(1).optional(),
    tenants: z.array(z.string()).min(1).optional(),
  })
  .default({});

const scopeIdentity = {
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "scope names match [A-Za-z0-9_-]{1,64}"),
  /** Every tenant gets its own copy of the limit (`options.tenant` of the request). */
  perTenant: z.boolean().default(false),
  match: ScopeMatchSchema,
};

/** A window (or token bucket) an operator adds: at most `limit` starts in any `intervalMs`. */
const ConfiguredWindowSchema = RateLimitSchema.extend(scopeIdentity);

/**
 * A concurrency cap an operator adds: at most `maxConcurrent` of the tool calls it matches run at once,
 * across the cluster (per tenant with `perTenant`, where `maxConcurrentByTenant` gives some tenants
 * another number). It counts tool calls only: the executor that runs a call gives its place back when
 * the call ends, and nothing does that for a model turn.
 */
const ConfiguredCapSchema = z
  .strictObject({
    ...scopeIdentity,
    maxConcurrent: z.int().min(1),
    maxConcurrentByTenant: z.record(z.string(), z.int().min(1)).optional(),
  })
  .refine((cap) => cap.perTenant || cap.maxConcurrentByTenant === undefined, {
    message: "maxConcurrentByTenant needs perTenant: true",
    path: ["maxConcurrentByTenant"],
  })
  .refine((cap) => cap.match.kind !== "model", {
    message: "a concurrency cap counts tool calls only; it cannot match models",
    path: ["match", "kind"],
  });

/**
 * Scopes an operator adds on top of the ones calls bring (a tool's own limit, a model's limits): a
 * global limit, one per tenant, one shared by a group of tools, a cap on calls running at once, ...
 * Each applies to the acquires it matches.
 */
export const ConfiguredScopeSchema = z.union([ConfiguredWindowSchema, ConfiguredCapSchema], {
  error: "a scope is either a window (limit, intervalMs, burst) or a concurrency cap (maxConcurrent)",
});
export type ConfiguredScope = z.infer<typeof ConfiguredScopeSchema>;

/** The file named by `TF_RATE_LIMITS_FILE` (docs/rate-limits.md). */
export const RateLimitsConfigSchema = z.strictObject({ scopes: z.array(ConfiguredScopeSchema).default([]) });
export type RateLimitsConfig = z.infer<typeof RateLimitsConfigSchema>;

/**
 * A call waiting for permits now matters more (a speculative call that a call of the model took over):
 * every limiter copy moves it up to `priority` and keeps it there when it asks again (broadcast).
 */
export const PromoteCallSchema = z.object({
  requestId: z.string().min(1),
  callId: z.string().min(1),
  priority: z.int().min(0).max(9),
});
export type PromoteCall = z.infer<typeof PromoteCallSchema>;

/**
 * The part of a scope's stored state (`RATE_LIMIT_KEYS.scope`, MessagePack) that callers read: until when
 * an upstream's "too many" (a 429) blocks the scope, epoch ms. The rest is the limiters' own.
 */
export const ScopeBlockSchema = z.looseObject({ blockedUntil: z.number().optional() });
export type ScopeBlock = z.infer<typeof ScopeBlockSchema>;

/**
 * What a limiter copy reports in its service stats (`$SRV.STATS`, the `acquire` endpoint's `data`): the
 * scopes it has served lately, each with its definition and the calls waiting in its line on this copy
 * (`oldestSince`: when the longest-waiting of them first asked, epoch ms). Read by the dashboard and
 * `toolformer status`; the use of each scope is in its KV state.
 */
export const LimiterStatsSchema = z.object({
  scopes: z.array(
    z.object({
      scope: RateLimitScopeSchema,
      waiting: z.int().min(0),
      oldestSince: z.number().optional(),
    }),
  ),
});
export type LimiterStats = z.infer<typeof LimiterStatsSchema>;

/**
 * The part of a scope's stored state that tells its use: the admissions still logged, each
 * `[epoch ms, holder, cost (absent = 1)]` (the limiters' own, read by the dashboard).
 */
export const ScopeUseStateSchema = z.looseObject({
  starts: z.array(z.tuple([z.number(), z.string()]).rest(z.number())).default([]),
  blockedUntil: z.number().optional(),
});
export type ScopeUseState = z.infer<typeof ScopeUseStateSchema>;
