import { newTraceparent } from "@toolformer/protocol";
import { randomBytes } from "node:crypto";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The traceparent for the next hop: same trace, new parent span id. A missing or malformed incoming
 * value starts a new trace, so every message is still tied to one.
 */
export function nextTraceparent(incoming: string | undefined): string {
  const match = incoming ? TRACEPARENT.exec(incoming) : null;
  if (!match) return newTraceparent();
  return `00-${match[1]}-${randomBytes(8).toString("hex")}-${match[3]}`;
}

/**
 * Starts OpenTelemetry export when an endpoint is configured (OTLP preferred, Jaeger otherwise).
 * Without one nothing is started (nor loaded: the SDK is imported lazily to keep start-up fast);
 * traceparent still travels in headers for correlation.
 */
export async function startTracing(
  serviceName: string,
  endpoints: { otlpEndpoint?: string | undefined; jaegerEndpoint?: string | undefined },
): Promise<{ shutdown(): Promise<void> }> {
  if (!endpoints.otlpEndpoint && !endpoints.jaegerEndpoint) return { shutdown: async () => {} };
  const { NodeSDK } = await import("@opentelemetry/sdk-node");
  const exporter = endpoints.otlpEndpoint
    ? new (await import("@opentelemetry/exporter-trace-otlp-http")).OTLPTraceExporter({ url: endpoints.otlpEndpoint })
    : new (await import("@opentelemetry/exporter-jaeger")).JaegerExporter({ endpoint: endpoints.jaegerEndpoint });
  const sdk = new NodeSDK({ serviceName, traceExporter: exporter, instrumentations: [] });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}
