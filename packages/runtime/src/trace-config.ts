import { z } from "zod";

/** The OTLP/HTTP path of traces, appended to a signal-agnostic `OTEL_EXPORTER_OTLP_ENDPOINT`. */
export const OTLP_TRACES_PATH = "v1/traces";

/**
 * Where spans go, by the OTLP exporter spec: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as given; else
 * `OTEL_EXPORTER_OTLP_ENDPOINT` with `v1/traces` appended to its path (after a `/` if it lacks one);
 * else nowhere, and tracing is off.
 */
export function tracesEndpoint(env: {
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string | undefined;
  OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
}): string | undefined {
  const specific = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (specific) return specific;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!base) return undefined;
  return base.endsWith("/") ? `${base}${OTLP_TRACES_PATH}` : `${base}/${OTLP_TRACES_PATH}`;
}

/** The samplers `OTEL_TRACES_SAMPLER` names (the spec's list, without the vendor-specific ones). */
export const SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;
export const DEFAULT_SAMPLER = "parentbased_always_on";

export const TracingConfigSchema = z.object({
  /** OTLP/HTTP (JSON) traces URL (`tracesEndpoint`); spans are made and exported only when set. */
  endpoint: z.url().optional(),
  /** `OTEL_SERVICE_NAME`; by default the actor's own (`toolformer-dispatcher`, ...). */
  serviceName: z.string().min(1).optional(),
  /** `OTEL_TRACES_SAMPLER`. */
  sampler: z.enum(SAMPLERS).default(DEFAULT_SAMPLER),
  /** `OTEL_TRACES_SAMPLER_ARG`: the ratio of the `traceidratio` samplers, 0 to 1 (default 1). */
  samplerRatio: z.coerce.number().min(0).max(1).default(1),
  /**
   * `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`: tool arguments and results go on the
   * tool spans, redacted as in events. Off by default: a trace backend is not where a user's data belongs.
   */
  captureContent: z.boolean().default(false),
});
export type TracingConfig = z.infer<typeof TracingConfigSchema>;

/** The environment variables that feed `TracingConfigSchema` (empty ones count as unset, as the spec says). */
export function tracingConfigFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const set = (value: string | undefined) => (value?.trim() ? value.trim() : undefined);
  return {
    endpoint: tracesEndpoint(env),
    serviceName: set(env.OTEL_SERVICE_NAME),
    sampler: set(env.OTEL_TRACES_SAMPLER)?.toLowerCase(),
    samplerRatio: set(env.OTEL_TRACES_SAMPLER_ARG),
    captureContent: set(env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT)?.toLowerCase() === "true",
  };
}

/** What sampler to build: whether the parent's decision is followed, and the ratio of new traces kept. */
export function samplerPlan(config: Pick<TracingConfig, "sampler" | "samplerRatio">): {
  parentBased: boolean;
  ratio: number;
} {
  const parentBased = config.sampler.startsWith("parentbased_");
  const root = config.sampler.replace("parentbased_", "");
  const ratio = root === "always_on" ? 1 : root === "always_off" ? 0 : config.samplerRatio;
  return { parentBased, ratio };
}
