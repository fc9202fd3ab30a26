import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import type { TracingConfig } from "./trace-config.ts";
import { samplerPlan } from "./trace-config.ts";

/** How long the last export may take at shutdown. */
const SHUTDOWN_EXPORT_TIMEOUT_MS = 5_000;

/**
 * Sets up tracing for this process. The active context always follows async work (one
 * AsyncLocalStorage), so log lines carry the trace id a message arrived with. Spans are made and
 * exported (OTLP/HTTP, batched) only when an endpoint is configured: without one the API's no-op
 * tracer stays, a span costs next to nothing, and the SDK is not even loaded (ADR 0018: idle memory).
 * One provider per process: the first actor started here decides its service name.
 */
export async function startTracing(
  defaultServiceName: string,
  config: TracingConfig,
): Promise<{ shutdown(): Promise<void> }> {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  if (!config.endpoint) return { shutdown: async () => {} };
  const [{ trace }, sdk, { OTLPTraceExporter }, { resourceFromAttributes }] = await Promise.all([
    import("@opentelemetry/api"),
    import("@opentelemetry/sdk-trace"),
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/resources"),
  ]);
  const plan = samplerPlan(config);
  const root =
    plan.ratio >= 1
      ? new sdk.AlwaysOnSampler()
      : plan.ratio <= 0
        ? new sdk.AlwaysOffSampler()
        : new sdk.TraceIdRatioBasedSampler(plan.ratio);
  const provider = new sdk.TracerProvider({
    resource: resourceFromAttributes({ "service.name": config.serviceName ?? defaultServiceName }),
    sampler: plan.parentBased ? new sdk.ParentBasedSampler({ root }) : root,
    spanProcessors: [
      new sdk.BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: config.endpoint }),
        exportTimeoutMillis: SHUTDOWN_EXPORT_TIMEOUT_MS,
      }),
    ],
  });
  if (!trace.setGlobalTracerProvider(provider)) {
    // Another actor of this process registered first: its provider serves both.
    await provider.shutdown();
    return { shutdown: async () => {} };
  }
  return {
    shutdown: async () => {
      await provider.shutdown();
      trace.disable();
    },
  };
}
