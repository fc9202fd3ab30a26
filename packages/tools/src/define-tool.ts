import {
  ApprovalPolicySchema,
  RateLimitSchema,
  ResultCachePolicySchema,
  TOOL_NAME_PATTERN,
  type ApprovalPolicy,
  type RateLimit,
  type ToolDefinition,
} from "@toolformer/protocol";
import { z } from "zod";

/** The logger a tool gets: already tagged with the request and call ids. */
export interface ToolLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ToolContext {
  /** Fires when the call is cancelled or its deadline passes: stop work and return or throw. */
  signal: AbortSignal;
  /** Absolute deadline of the call, epoch milliseconds. */
  deadline: number;
  requestId: string;
  callId: string;
  attempt: number;
  log: ToolLogger;
  /**
   * Reports a partial result (JSON): published at once as a `tool.progress` event on the request's
   * events, so clients can show it before the call ends. Resolves once published.
   */
  progress(partial: unknown): Promise<void>;
}

export interface TypeScriptTool<S extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  parameters: S;
  /**
   * Changes nothing, only reads (default false): its calls may be started before the model asks
   * (speculation), their results reused, and run ahead of the model's order. Needs `idempotent: true`.
   */
  readOnly?: boolean;
  /** Running it twice with the same arguments is the same as once: a call that failed is tried again. */
  idempotent: boolean;
  timeoutMs?: number;
  rateLimit?: RateLimit;
  /** At most this many calls of the tool run at once, across the whole cluster. */
  maxConcurrency?: number;
  /**
   * Calls wait for a client's approval before they run (all of them, or those whose arguments match
   * `approval.when`, a JSON Schema), for at most `approval.timeoutMs`; the turn's other calls run on.
   */
  approval?: ApprovalPolicy;
  /**
   * Results are cached for `cache.ttlMs` and reused by identical calls (same arguments and `version`),
   * cluster-wide. Read-only tools only.
   */
  cache?: z.input<typeof ResultCachePolicySchema>;
  /**
   * Run each call in the executor's worker-thread pool, so CPU-heavy work never blocks the actor:
   * `module` is the URL of the module that exports this tool (`import.meta.url`), which the worker
   * loads; `memoryLimitMb` caps the worker's heap (a call over it fails alone).
   */
  worker?: { module: string; memoryLimitMb?: number };
  run(args: z.output<S>, ctx: ToolContext): Promise<unknown>;
}

/** Declares a tool written in TypeScript; the executor validates arguments against `parameters` before `run`. */
export function defineTool<S extends z.ZodType>(tool: TypeScriptTool<S>): TypeScriptTool<S> {
  if (!TOOL_NAME_PATTERN.test(tool.name)) throw new Error(`tool name ${tool.name} must match ${TOOL_NAME_PATTERN}`);
  if (tool.readOnly && !tool.idempotent)
    throw new Error(`tool ${tool.name} is read-only, so it is idempotent too: set idempotent: true`);
  if (tool.rateLimit) RateLimitSchema.parse(tool.rateLimit);
  if (tool.approval) ApprovalPolicySchema.parse(tool.approval);
  if (tool.cache) {
    if (!tool.readOnly) throw new Error(`tool ${tool.name} caches its results, so it must be read-only`);
    ResultCachePolicySchema.parse(tool.cache);
  }
  return tool;
}

/** The catalog entry of a TypeScript tool: its zod schema rendered as JSON Schema for the model. */
export function toolDefinitionOf(tool: TypeScriptTool): ToolDefinition {
  const { $schema: _ignored, ...parameters } = z.toJSONSchema(tool.parameters, { io: "input" }) as Record<
    string,
    unknown
  >;
  return {
    name: tool.name,
    description: tool.description,
    parameters,
    readOnly: tool.readOnly ?? false,
    idempotent: tool.idempotent,
    source: "typescript",
    ...(tool.timeoutMs === undefined ? {} : { timeoutMs: tool.timeoutMs }),
    ...(tool.rateLimit === undefined ? {} : { rateLimit: tool.rateLimit }),
    ...(tool.maxConcurrency === undefined ? {} : { maxConcurrency: tool.maxConcurrency }),
    ...(tool.approval === undefined ? {} : { approval: tool.approval }),
    ...(tool.cache === undefined ? {} : { cache: ResultCachePolicySchema.parse(tool.cache) }),
  };
}
