import { describe, expect, it } from "vitest";
import { samplerPlan, TracingConfigSchema, tracesEndpoint, tracingConfigFromEnv } from "./trace-config.ts";

describe("where spans go (the OTLP exporter spec's endpoint rule)", () => {
  it("appends v1/traces to the signal-agnostic endpoint, with or without its trailing slash, under any path", () => {
    expect(tracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toBe(
      "http://collector:4318/v1/traces",
    );
    expect(tracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" })).toBe(
      "http://collector:4318/v1/traces",
    );
    expect(tracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://gw.example/otlp" })).toBe(
      "https://gw.example/otlp/v1/traces",
    );
  });

  it("uses the traces endpoint as given, ahead of the general one", () => {
    const env = {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://traces:9999/custom",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
    };
    expect(tracesEndpoint(env)).toBe("http://traces:9999/custom");
  });

  it("is off when neither is set, or both are empty", () => {
    expect(tracesEndpoint({})).toBeUndefined();
    expect(
      tracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: " ", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "" }),
    ).toBeUndefined();
  });
});

describe("the tracing settings from OTEL_* variables", () => {
  it("reads service name, sampler, ratio and the content opt-in", () => {
    const config = TracingConfigSchema.parse(
      tracingConfigFromEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318",
        OTEL_SERVICE_NAME: "my-dispatcher",
        OTEL_TRACES_SAMPLER: "ParentBased_TraceIdRatio",
        OTEL_TRACES_SAMPLER_ARG: "0.25",
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: "TRUE",
      }),
    );
    expect(config).toEqual({
      endpoint: "http://127.0.0.1:4318/v1/traces",
      serviceName: "my-dispatcher",
      sampler: "parentbased_traceidratio",
      samplerRatio: 0.25,
      captureContent: true,
    });
  });

  it("defaults to the spec's parent-based always-on sampler, no content, the actor's own service name", () => {
    expect(TracingConfigSchema.parse(tracingConfigFromEnv({}))).toEqual({
      sampler: "parentbased_always_on",
      samplerRatio: 1,
      captureContent: false,
    });
  });

  it("refuses a sampler it does not know and a ratio outside 0..1", () => {
    expect(TracingConfigSchema.safeParse(tracingConfigFromEnv({ OTEL_TRACES_SAMPLER: "jaeger_remote" })).success).toBe(
      false,
    );
    expect(TracingConfigSchema.safeParse(tracingConfigFromEnv({ OTEL_TRACES_SAMPLER_ARG: "1.5" })).success).toBe(false);
  });

  it("plans each sampler: whether the parent decides, and the share of new traces kept", () => {
    const plan = (sampler: (typeof TracingConfigSchema.shape.sampler)["_output"], samplerRatio = 0.5) =>
      samplerPlan({ sampler, samplerRatio });
    expect(plan("always_on")).toEqual({ parentBased: false, ratio: 1 });
    expect(plan("always_off")).toEqual({ parentBased: false, ratio: 0 });
    expect(plan("traceidratio")).toEqual({ parentBased: false, ratio: 0.5 });
    expect(plan("parentbased_always_on")).toEqual({ parentBased: true, ratio: 1 });
    expect(plan("parentbased_always_off")).toEqual({ parentBased: true, ratio: 0 });
    expect(plan("parentbased_traceidratio", 0.1)).toEqual({ parentBased: true, ratio: 0.1 });
  });
});
