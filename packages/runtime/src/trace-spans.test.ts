import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { inLinkedRootSpan, inSpan, remoteContext, spanContextOf, traceparentHere } from "./trace-context.ts";

const REQUEST_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("spans with the SDK registered", () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(provider);
  });
  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
  });
  beforeEach(() => exporter.reset());

  it("nests a span under the remote parent, and what it sends on names the new span", async () => {
    const sent = await inSpan(
      "outer",
      {},
      async () => inSpan("inner", {}, async () => traceparentHere("unused")),
      remoteContext(REQUEST_TRACEPARENT),
    );
    const [inner, outer] = exporter.getFinishedSpans();
    expect(outer?.parentSpanContext?.spanId).toBe("00f067aa0ba902b7");
    expect(inner?.parentSpanContext?.spanId).toBe(outer?.spanContext().spanId);
    expect(sent).toBe(`00-4bf92f3577b34da6a3ce929d0e0e4736-${inner?.spanContext().spanId}-01`);
  });

  it("starts work the request did not ask for in a trace of its own, linked to the request's span", async () => {
    const carried = await inSpan("unrelated", {}, () =>
      inLinkedRootSpan("speculate", REQUEST_TRACEPARENT, { "toolformer.round": 1 }, async (traceparent) => traceparent),
    );
    const speculate = exporter.getFinishedSpans().find((span) => span.name === "speculate")!;
    expect(speculate.parentSpanContext).toBeUndefined();
    expect(speculate.spanContext().traceId).not.toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(speculate.links.map((link) => link.context.spanId)).toEqual(["00f067aa0ba902b7"]);
    expect(speculate.attributes).toEqual({ "toolformer.round": 1 });
    expect(spanContextOf(carried)?.spanId).toBe(speculate.spanContext().spanId);
  });
});
