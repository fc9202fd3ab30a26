import { z } from "zod";
import { ToolNameSchema } from "./request.ts";

export const RateLimitSchema = z.strictObject({
  /** At most `limit` calls start in any window of `intervalMs`, across the whole cluster. */
  limit: z.int().min(1),
  intervalMs: z.int().min(1),
  /**
   * Makes the limit a token bucket (GCRA) instead of a sliding window: up to `burst` calls may start at
   * once, refilled at `limit` per `intervalMs`, so any window of `intervalMs` admits at most `limit + burst`.
   */
  burst: z.int().min(1).optional(),
});
export type RateLimit = z.infer<typeof RateLimitSchema>;

export const ToolSource = { typescript: "typescript", remote: "remote", mcp: "mcp" } as const;
export type ToolSource = (typeof ToolSource)[keyof typeof ToolSource];

/** A tool as the catalog knows it: what the model is offered and what the scheduler needs. */
export const RateLimitScopeSchema = RateLimitSchema.extend({
  /** e.g. `tool:search`, `tenant:acme`, `model-tokens:openai:gpt-4o`. */
  key: z.string().min(1).max(256),
  /** What this acquire counts against the limit: 1 for a call (default), or e.g. estimated tokens. */
  cost: z.int().min(1).optional(),
  /** Only honour a block set by an upstream's 429; admit without recording (no limit of its own). */
  blockOnly: z.boolean().optional(),
  /**
   * A concurrency cap: `limit` holders at once, each held from its grant until it is released (its
   * call ended); `intervalMs` only bounds how long a holder that never says so keeps its place.
   */
  concurrent: z.boolean().optional(),
});
export type RateLimitScope = z.infer<typeof RateLimitScopeSchema>;

/**
 * What running a tool does besides answering, which decides what may be done with its calls (the table
 * in docs/tools.md). A read-only tool is idempotent too.
 */
const toolEffects = {
  /**
   * Changes nothing, only reads: its calls may be started before the model asks (speculation), their
   * results reused, and run ahead of the model's order. Absent (an older executor's entry) means false.
   */
  readOnly: z.boolean().default(false),
  /** Running it twice with the same arguments is the same as once: a call that failed is tried again. */
  idempotent: z.boolean(),
  /** May overwrite or delete what exists (an MCP server's `destructiveHint`, where declared): shown, decides nothing. */
  destructive: z.boolean().optional(),
};

/**
 * A tool's calls, or those whose arguments match `when`, wait for a person's decision before they run
 * (docs/protocol.md#approvals). Only the calls that need it wait: the rest of the turn runs on.
 */
export const ApprovalPolicySchema = z.strictObject({
  /** A JSON Schema: only calls whose arguments it accepts need approval. Absent: every call of the tool. */
  when: z.record(z.string(), z.unknown()).optional(),
  /** How long a call waits for a decision before it fails (`timeout`); absent: until the request's deadline. */
  timeoutMs: z.int().min(1).optional(),
});
export type ApprovalPolicy = z.infer<typeof ApprovalPolicySchema>;

/** The longest a cached result is kept: the cache bucket's own `max_age`, which removes what nobody reads. */
export const MAX_RESULT_CACHE_TTL_MS = 24 * 60 * 60_000;

/**
 * A read-only tool's results are kept and reused for identical calls (same tool, version and canonical
 * arguments) for `ttlMs` (docs/tools.md#result-cache). Only read-only tools may opt in.
 */
export const ResultCachePolicySchema = z.strictObject({
  ttlMs: z.int().min(1).max(MAX_RESULT_CACHE_TTL_MS),
  /** Changing it makes every result cached before a stranger: set it when the tool's answers change. */
  version: z.string().max(128).default(""),
});
export type ResultCachePolicy = z.infer<typeof ResultCachePolicySchema>;

const toolPolicies = {
  approval: ApprovalPolicySchema.optional(),
  cache: ResultCachePolicySchema.optional(),
};

export const ToolDefinitionSchema = z
  .object({
    name: ToolNameSchema,
    description: z.string(),
    /** JSON Schema of the arguments object. */
    parameters: z.record(z.string(), z.unknown()),
    ...toolEffects,
    timeoutMs: z.int().min(1).optional(),
    rateLimit: RateLimitSchema.optional(),
    /** At most this many calls of the tool run at once, across the whole cluster. */
    maxConcurrency: z.int().min(1).optional(),
    source: z.enum(ToolSource),
    ...toolPolicies,
  })
  .refine((tool) => !tool.readOnly || tool.idempotent, {
    message: "a read-only tool is idempotent too",
    path: ["idempotent"],
  })
  .refine((tool) => !tool.cache || tool.readOnly, {
    message: "only a read-only tool may cache its results",
    path: ["cache"],
  });
export type ToolDefinition = z.infer<typeof ToolDefinitionSchema>;

/** A catalog entry in KV: the definition plus who hosts it and when it was last refreshed. */
export const ToolRegistrationSchema = z.object({
  definition: ToolDefinitionSchema,
  executorId: z.string(),
  refreshedAt: z.number(),
  /** Calls of this tool the executor runs at once. */
  capacity: z.int().min(1).optional(),
});
export type ToolRegistration = z.infer<typeof ToolRegistrationSchema>;

/** Reply of `orchestrate.tools`. */
export const ToolsReplySchema = z.object({
  tools: z.array(
    z.object({
      name: z.string(),
      description: z.string(),
      parameters: z.record(z.string(), z.unknown()),
      ...toolEffects,
      source: z.enum(ToolSource),
      rateLimit: RateLimitSchema.optional(),
      timeoutMs: z.int().optional(),
      maxConcurrency: z.int().optional(),
      ...toolPolicies,
    }),
  ),
});
export type ToolsReply = z.infer<typeof ToolsReplySchema>;

/** Metadata keys a NATS micro service endpoint sets to be offered as a tool. */
export const REMOTE_TOOL_METADATA = {
  parameters: "toolformer.parameters",
  description: "toolformer.description",
  readOnly: "toolformer.read_only",
  idempotent: "toolformer.idempotent",
  timeoutMs: "toolformer.timeout_ms",
  rateLimit: "toolformer.rate_limit",
  maxConcurrency: "toolformer.max_concurrency",
  /** JSON `ApprovalPolicy`: calls wait for approval. */
  approval: "toolformer.approval",
  /** Results are cached this long (ms); the service's version is the cache's version. Read-only tools only. */
  cacheTtlMs: "toolformer.cache_ttl_ms",
} as const;

const jsonObject = z.string().transform((text, ctx) => {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  ctx.addIssue({ code: "custom", message: "must be a JSON object encoded as a string" });
  return z.NEVER;
});

/**
 * Endpoint metadata (all strings, as the service API carries it) parsed into tool properties. Read-only
 * implies idempotent, so `read_only: "true"` beside `idempotent: "false"` is refused as contradictory.
 */
export const RemoteToolMetadataSchema = z
  .object({
    [REMOTE_TOOL_METADATA.parameters]: jsonObject,
    [REMOTE_TOOL_METADATA.description]: z.string().optional(),
    [REMOTE_TOOL_METADATA.readOnly]: z.enum(["true", "false"]).optional(),
    [REMOTE_TOOL_METADATA.idempotent]: z.enum(["true", "false"]).optional(),
    [REMOTE_TOOL_METADATA.timeoutMs]: z
      .string()
      .regex(/^[1-9][0-9]*$/)
      .optional(),
    [REMOTE_TOOL_METADATA.rateLimit]: jsonObject.pipe(RateLimitSchema).optional(),
    [REMOTE_TOOL_METADATA.maxConcurrency]: z
      .string()
      .regex(/^[1-9][0-9]*$/)
      .optional(),
    [REMOTE_TOOL_METADATA.approval]: jsonObject.pipe(ApprovalPolicySchema).optional(),
    [REMOTE_TOOL_METADATA.cacheTtlMs]: z
      .string()
      .regex(/^[1-9][0-9]*$/)
      .refine((ttl) => Number(ttl) <= MAX_RESULT_CACHE_TTL_MS, `at most ${MAX_RESULT_CACHE_TTL_MS} ms`)
      .optional(),
  })
  .refine((m) => !(m[REMOTE_TOOL_METADATA.readOnly] === "true" && m[REMOTE_TOOL_METADATA.idempotent] === "false"), {
    message: `${REMOTE_TOOL_METADATA.readOnly} "true" contradicts ${REMOTE_TOOL_METADATA.idempotent} "false": a read-only tool is idempotent too`,
    path: [REMOTE_TOOL_METADATA.idempotent],
  })
  .refine((m) => m[REMOTE_TOOL_METADATA.cacheTtlMs] === undefined || m[REMOTE_TOOL_METADATA.readOnly] === "true", {
    message: `${REMOTE_TOOL_METADATA.cacheTtlMs} needs ${REMOTE_TOOL_METADATA.readOnly} "true": only a read-only tool may cache its results`,
    path: [REMOTE_TOOL_METADATA.cacheTtlMs],
  });

/** A remote endpoint's metadata as a tool definition, or the reason it is not one. */
export function remoteToolDefinition(
  name: string,
  metadata: Record<string, string> | null | undefined,
  serviceVersion = "",
): { ok: true; definition: ToolDefinition } | { ok: false; reason: string } {
  if (!ToolNameSchema.safeParse(name).success)
    return { ok: false, reason: `endpoint name ${name} is not a valid tool name` };
  const parsed = RemoteToolMetadataSchema.safeParse(metadata ?? {});
  if (!parsed.success) return { ok: false, reason: z.prettifyError(parsed.error) };
  const m = parsed.data;
  const timeout = m[REMOTE_TOOL_METADATA.timeoutMs];
  const rateLimit = m[REMOTE_TOOL_METADATA.rateLimit];
  const maxConcurrency = m[REMOTE_TOOL_METADATA.maxConcurrency];
  const approval = m[REMOTE_TOOL_METADATA.approval];
  const cacheTtlMs = m[REMOTE_TOOL_METADATA.cacheTtlMs];
  // `idempotent: "true"` alone, as services wrote it before `read_only` existed, means idempotent only.
  const readOnly = m[REMOTE_TOOL_METADATA.readOnly] === "true";
  return {
    ok: true,
    definition: {
      name,
      description: m[REMOTE_TOOL_METADATA.description] ?? "",
      parameters: m[REMOTE_TOOL_METADATA.parameters],
      readOnly,
      idempotent: readOnly || m[REMOTE_TOOL_METADATA.idempotent] === "true",
      source: "remote",
      ...(timeout === undefined ? {} : { timeoutMs: Number(timeout) }),
      ...(rateLimit === undefined ? {} : { rateLimit }),
      ...(maxConcurrency === undefined ? {} : { maxConcurrency: Number(maxConcurrency) }),
      ...(approval === undefined ? {} : { approval }),
      ...(cacheTtlMs === undefined ? {} : { cache: { ttlMs: Number(cacheTtlMs), version: serviceVersion } }),
    },
  };
}
