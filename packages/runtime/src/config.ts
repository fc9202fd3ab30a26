import { z } from "zod";
import { natsAuthFromEnv, NatsAuthSchema } from "@toolformer/client";
import { DEFAULT_LIVENESS_DISCONNECTED_MS } from "./health.ts";
import { TracingConfigSchema, tracingConfigFromEnv } from "./trace-config.ts";

export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";

/** Settings every actor shares, read once from the environment in each actor's main.ts. */
export const BaseConfigSchema = z.object({
  natsUrl: z.string().min(1).default(DEFAULT_NATS_URL),
  /** The actor role's credentials and TLS files (docs/security.md); none on a server without auth. */
  natsAuth: NatsAuthSchema.default({ tls: {} }),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Port of the /metrics, /healthz and /readyz HTTP endpoint; 0 disables it. */
  metricsPort: z.coerce.number().int().min(0).max(65535).default(0),
  /** How long the NATS connection may be down before /healthz fails (TF_LIVENESS_DISCONNECTED_MS). */
  livenessDisconnectedMs: z.coerce.number().int().min(0).default(DEFAULT_LIVENESS_DISCONNECTED_MS),
  /** Spans and where they go, from the standard `OTEL_*` variables (trace-config.ts). */
  tracing: TracingConfigSchema.prefault({}),
  /** The process that started this copy, which it stops with (TF_PARENT_PID, set by `spawnActors`). */
  parentPid: z.coerce.number().int().positive().optional(),
  /** Unique id of this copy of the actor; generated when absent. */
  actorId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .optional(),
});
export type BaseConfig = z.infer<typeof BaseConfigSchema>;

/** The environment variables that feed `BaseConfigSchema`. */
export function baseConfigFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  return {
    natsUrl: env.NATS_URL,
    natsAuth: natsAuthFromEnv(env),
    logLevel: env.LOG_LEVEL,
    metricsPort: env.METRICS_PORT,
    livenessDisconnectedMs: env.TF_LIVENESS_DISCONNECTED_MS,
    tracing: tracingConfigFromEnv(env),
    actorId: env.TF_ACTOR_ID,
    parentPid: env.TF_PARENT_PID,
  };
}

/** Parses config with a readable error that names every bad setting. */
export function parseConfig<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new Error(`invalid configuration:\n${z.prettifyError(parsed.error)}`);
  return Object.freeze(parsed.data) as z.output<S>;
}

/** A setting given as JSON text (an environment variable, a mounted file), with an error naming it. */
export function parseJsonSetting(text: string, name: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new Error(`${name} is not JSON: ${String(error)}`, { cause: error });
  }
}
