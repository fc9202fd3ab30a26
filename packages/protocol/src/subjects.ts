/**
 * Every subject, stream, consumer and KV bucket name the system uses is built here.
 * Public subjects (`orchestrate.*`) are the contract in docs/protocol.md; `tf.*` subjects are internal.
 */
import { subjectToken, TENANT_PATTERN, tenantIdToken } from "./ids.ts";

export const PUBLIC_SUBJECTS = {
  request: "orchestrate.request",
  tools: "orchestrate.tools",
  eventsPrefix: "orchestrate.events",
  cancelPrefix: "orchestrate.cancel",
  callCancelPrefix: "orchestrate.call.cancel",
  approvePrefix: "orchestrate.approve",
  replayPrefix: "orchestrate.replay",
} as const;

/** Events of one request, kept in the EVENTS stream so a late subscriber can replay them. */
export function eventsSubject(requestId: string): string {
  return `${PUBLIC_SUBJECTS.eventsPrefix}.${requestId}`;
}

/** Any message published here cancels the request; every actor copy listens (broadcast, no queue group). */
export function cancelSubject(requestId: string): string {
  return `${PUBLIC_SUBJECTS.cancelPrefix}.${requestId}`;
}

/**
 * One call stopped before it finished (cancel, deadline, tool timeout, lost race): the executors
 * running it abort it, and the remote service serving the tool can stop its work (broadcast).
 */
export function callCancelSubject(tool: string): string {
  return `${PUBLIC_SUBJECTS.callCancelPrefix}.${tool}`;
}

/** Approves or denies one of the request's calls that waits for approval (request/reply or publish, JSON). */
export function approveSubject(requestId: string): string {
  return `${PUBLIC_SUBJECTS.approvePrefix}.${requestId}`;
}

export const APPROVE_WILDCARD = `${PUBLIC_SUBJECTS.approvePrefix}.>`;

/** The request id an approve subject names (ids may contain dots, so everything after the prefix). */
export function requestIdFromApproveSubject(subject: string): string | undefined {
  return requestIdAfter(PUBLIC_SUBJECTS.approvePrefix, subject);
}

/**
 * Runs a finished request again from its records, without the model, or only shows its recorded
 * timeline (request/reply, JSON; docs/adr/0027-replay-from-the-records-without-the-model.md).
 */
export function replaySubject(requestId: string): string {
  return `${PUBLIC_SUBJECTS.replayPrefix}.${requestId}`;
}

export const REPLAY_WILDCARD = `${PUBLIC_SUBJECTS.replayPrefix}.>`;

/** The request id a replay subject names (ids may contain dots, so everything after the prefix). */
export function requestIdFromReplaySubject(subject: string): string | undefined {
  return requestIdAfter(PUBLIC_SUBJECTS.replayPrefix, subject);
}

/** Everything after `prefix.` in a per-request public subject. */
function requestIdAfter(prefix: string, subject: string): string | undefined {
  return subject.startsWith(`${prefix}.`) ? subject.slice(prefix.length + 1) : undefined;
}

export const CALL_CANCEL_WILDCARD = `${PUBLIC_SUBJECTS.callCancelPrefix}.>`;

/** JetStream's advisory that a consumer gave up on a message of `stream` after its last delivery. */
export function maxDeliveriesAdvisory(stream: string): string {
  return `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.*`;
}

/** Where replies go: every NATS client's default request inbox is under this prefix. */
export const INBOX_PREFIX = "_INBOX";

/**
 * Where nats-server sends the reply to a request that crossed accounts through a service import: the
 * server maps it back to the requester's own inbox in its account.
 */
export const SERVICE_REPLY_PREFIX = "_R_";

/**
 * A tenant account's side of the public subjects (docs/adr/0017-tenants-are-accounts.md). Each tenant
 * account imports `orchestrate.request` from the orchestrator's account as `request(tenant)`, so the
 * server, not the body, says whose request it is; its events and cancels are the orchestrator's subjects
 * of its request ids (`tenantRequestId`), exported to it alone.
 */
export const TENANT_SUBJECTS = {
  request: (tenant: string) => `orchestrate.tenant.${tenant}.request`,
  requestWildcard: "orchestrate.tenant.*.request",
  /** Everything under the tenants' namespace: only imports (and the dispatchers) publish there. */
  wildcard: "orchestrate.tenant.>",
  /** A tenant's events, as the orchestrator's account publishes them. */
  eventsOf: (tenant: string) => `${PUBLIC_SUBJECTS.eventsPrefix}.${tenantIdToken(tenant)}.>`,
  /** A tenant's cancels, as they arrive in the orchestrator's account. */
  cancelOf: (tenant: string) => `${PUBLIC_SUBJECTS.cancelPrefix}.${tenantIdToken(tenant)}.>`,
  /** A tenant's approvals, as they arrive in the orchestrator's account: only for its own requests. */
  approveOf: (tenant: string) => `${PUBLIC_SUBJECTS.approvePrefix}.${tenantIdToken(tenant)}.>`,
  /** A tenant's replays, as they arrive in the orchestrator's account: only of its own requests. */
  replayOf: (tenant: string) => `${PUBLIC_SUBJECTS.replayPrefix}.${tenantIdToken(tenant)}.>`,
} as const;

/** The tenant a request subject names (`TENANT_SUBJECTS.request`); undefined for `orchestrate.request`. */
export function tenantOfRequestSubject(subject: string): string | undefined {
  const tenant = subject.split(".")[2];
  return tenant !== undefined && TENANT_PATTERN.test(tenant) && subject === TENANT_SUBJECTS.request(tenant)
    ? tenant
    : undefined;
}

/**
 * The prefix under which the orchestrator's account reaches a tenant account's JetStream API, so the
 * admin provisions the tenant's stream (nats.js `apiPrefix`).
 */
export function tenantJetStreamApiPrefix(tenant: string): string {
  return `$JS.tenant.${tenant}.API`;
}
export const TENANT_JETSTREAM_API_WILDCARD = "$JS.tenant.>";

/**
 * Whether a reply subject is an inbox: `_INBOX.` and whole tokens, no wildcard. The dispatcher answers
 * only there, so a request cannot make it publish into the subjects it is allowed to write.
 */
export function isInboxSubject(subject: string): boolean {
  return isReplyUnder(INBOX_PREFIX, subject);
}

/**
 * Whether the dispatcher may answer on `subject`: an inbox, or, for a request that crossed accounts (a
 * tenant's, through its service import), the server's reply subject for it.
 */
export function isReplySubject(subject: string, crossedAccounts: boolean): boolean {
  return isInboxSubject(subject) || (crossedAccounts && isReplyUnder(SERVICE_REPLY_PREFIX, subject));
}

function isReplyUnder(prefix: string, subject: string): boolean {
  const tokens = subject.split(".");
  return tokens.length >= 2 && tokens[0] === prefix && tokens.every((t) => /^[^\s*>]+$/.test(t));
}

/**
 * Whether a remote tool may be served on `subject`: anywhere but the orchestrator's own namespaces
 * (`tf.`, `orchestrate.`), inboxes and the system's (`$`). Executors publish calls there with their
 * rights, so a tool there would turn a call into an internal message.
 */
export function isToolSubject(subject: string): boolean {
  return !/^(tf|orchestrate|_INBOX)(\.|$)/.test(subject) && !subject.startsWith("$");
}

export const CANCEL_WILDCARD = `${PUBLIC_SUBJECTS.cancelPrefix}.>`;
export const EVENTS_WILDCARD = `${PUBLIC_SUBJECTS.eventsPrefix}.>`;

/** The request id a cancel subject names (ids may contain dots, so everything after the prefix). */
export function requestIdFromCancelSubject(subject: string): string | undefined {
  return requestIdAfter(PUBLIC_SUBJECTS.cancelPrefix, subject);
}

export const INTERNAL_SUBJECTS = {
  /** The whole internal namespace (for permissions: only the roles granted a part may touch it). */
  wildcard: "tf.>",
  /** Accepted requests waiting for a dispatcher to run their model loop (work queue). */
  requestRun: (requestId: string) => `tf.request.run.${subjectToken(requestId)}`,
  requestRunWildcard: "tf.request.run.>",
  /** One round of tool calls handed from dispatcher to scheduler (work queue). */
  roundSubmit: (requestId: string) => `tf.round.submit.${subjectToken(requestId)}`,
  roundSubmitWildcard: "tf.round.submit.>",
  /** Calls added to an open round as the model streams them, then its seal. */
  roundAdd: (requestId: string, round: number) => `tf.round.add.${subjectToken(requestId)}.${round}`,
  roundAddWildcard: "tf.round.add.>",
  /**
   * A model turn's output, recorded before its calls are handed on (`TurnRecord`): a dispatcher that
   * takes the request over replays it instead of asking the model again.
   */
  roundTurn: (requestId: string, round: number) => `tf.round.turn.${subjectToken(requestId)}.${round}`,
  roundTurnWildcard: "tf.round.turn.>",
  /** The scheduler's final word on a round: every call's record. */
  roundDone: (requestId: string, round: number) => `tf.round.done.${subjectToken(requestId)}.${round}`,
  roundDoneWildcard: "tf.round.done.>",
  /** A tool call for whichever executor hosts the tool (work queue, one consumer per tool). */
  exec: (tool: string) => `tf.exec.${tool}`,
  execWildcard: "tf.exec.>",
  /** One call's outcome, published by the executor that ran it. */
  result: (requestId: string, callId: string) => `tf.results.${subjectToken(requestId)}.${callId}`,
  resultsOfRequest: (requestId: string) => `tf.results.${subjectToken(requestId)}.>`,
  resultsWildcard: "tf.results.>",
  /**
   * Permit requests to the rate-limiter actors (request/reply, queue group): every copy serves this; a
   * caller uses it when its line (below) has no owner at the moment.
   */
  rateLimitAcquire: "tf.ratelimit.acquire",
  /**
   * Permit requests for one line (`rateLimitLineOf(target)`), served by the one limiter copy that owns
   * it, so every call for a tool or model waits in one room, in one fair order.
   */
  rateLimitLine: (line: number) => `tf.ratelimit.line.${line}`,
  rateLimitLineWildcard: "tf.ratelimit.line.*",
  /** Everything the rate limiters serve or hear. */
  rateLimitWildcard: "tf.ratelimit.>",
  /** Limiter copies announce themselves here (and that they are leaving), to share out the lines. */
  rateLimitPresence: "tf.ratelimit.presence",
  /** A model turn starts: the speculation engine guesses its calls (core NATS, queue group; a lost one costs a guess). */
  speculationPredict: "tf.speculation.predict",
  /** A finished request's transcript for the history model (JetStream, so none is lost while no copy runs). */
  speculationLearn: (requestId: string) => `tf.speculation.learn.${subjectToken(requestId)}`,
  speculationLearnWildcard: "tf.speculation.learn.>",
  /** A waiting call's priority raised (`PromoteCall`); every limiter copy hears it (no queue group). */
  rateLimitPromote: "tf.ratelimit.promote",
  /** Corrections and upstream 429 blocks for the rate limiters (request/reply, queue group). */
  rateLimitFeedback: "tf.ratelimit.feedback",
} as const;

export const STREAMS = {
  requests: { name: "TF_REQUESTS", subjects: [INTERNAL_SUBJECTS.requestRunWildcard] },
  rounds: {
    name: "TF_ROUNDS",
    subjects: [
      INTERNAL_SUBJECTS.roundSubmitWildcard,
      INTERNAL_SUBJECTS.roundAddWildcard,
      INTERNAL_SUBJECTS.roundTurnWildcard,
      INTERNAL_SUBJECTS.roundDoneWildcard,
    ],
  },
  exec: { name: "TF_EXEC", subjects: [INTERNAL_SUBJECTS.execWildcard] },
  results: { name: "TF_RESULTS", subjects: [INTERNAL_SUBJECTS.resultsWildcard] },
  events: { name: "TF_EVENTS", subjects: [EVENTS_WILDCARD] },
  speculation: { name: "TF_SPECULATION", subjects: [INTERNAL_SUBJECTS.speculationLearnWildcard] },
} as const;

export const CONSUMERS = {
  dispatcherRunner: "dispatcher",
  scheduler: "scheduler",
  /** The speculation engine's watch of the public events: acks none (ADR 0033). */
  speculationObserver: "speculation_observer",
  /** The observer's durable while it acked every event; a starting engine deletes it (ADR 0033). */
  retiredSpeculationObserver: "speculation",
  speculationLearner: "speculation_learner",
  /** Executors hosting the same tool share this durable, so each call goes to exactly one of them. */
  executorForTool: (tool: string) => `exec_${tool}`,
} as const;

/** JetStream Object Store buckets. */
export const OBJECT_STORES = {
  /** Tool results too large to travel inline, named `<request token>.<call id>`; they expire. */
  results: "tf_results",
} as const;

export const KV_BUCKETS = {
  /** Idempotency records and final replies, keyed by request id. */
  requests: "tf_requests",
  /** Tool definitions registered by executors, keyed `<tool>.<executorId>`. */
  tools: "tf_tools",
  /** Rate-limit windows, keyed by scope. */
  rateLimits: "tf_ratelimit",
  /** What the speculation actor has learned from completed requests. */
  speculationHistory: "tf_speculation",
  /** Each request's speculative calls (`SpeculationLedger`), keyed by request token; they expire. */
  speculationCalls: "tf_speculation_calls",
  /** Each waiting call's approval (`ApprovalRecord`), keyed `approvalKey(request, call)`; they expire. */
  approvals: "tf_approvals",
  /** Read-only tools' cached results (`CacheEntry`), keyed `resultCacheKey(...)`; each entry says when it expires. */
  resultCache: "tf_result_cache",
  /** Which executor run holds each call of a tool with side effects (`CallClaim`), keyed `callClaimKey(...)`. */
  callClaims: "tf_call_claims",
} as const;

/** The stream that holds a KV bucket (what nats.js names it). */
export const kvStreamName = (bucket: string) => `KV_${bucket}`;

/** Keys in the rate-limit bucket besides the scopes (whose keys, from `subjectToken`, never contain a dot). */
export const RATE_LIMIT_KEYS = {
  /** The operator's configured scopes (RateLimitsConfig), written by the rate limiters at start. */
  config: "meta.config",
  /** One scope's state (its admissions, and an upstream's block: ScopeBlock), written by the limiters only. */
  scope: (scopeKey: string) => subjectToken(scopeKey),
} as const;

export const QUEUE_GROUPS = {
  dispatcher: "dispatcher",
  rateLimiter: "rate-limiter",
  executor: "executor",
  speculation: "speculation",
} as const;

/** Names under which each actor answers the NATS service API (`$SRV.PING/INFO/STATS`). */
export const SERVICE_NAMES = {
  dispatcher: "toolformer-dispatcher",
  scheduler: "toolformer-scheduler",
  rateLimiter: "toolformer-rate-limiter",
  speculation: "toolformer-speculation",
  executor: "toolformer-executor",
} as const;

export function toolRegistrationKey(tool: string, executorId: string): string {
  return `${tool}.${subjectToken(executorId)}`;
}
