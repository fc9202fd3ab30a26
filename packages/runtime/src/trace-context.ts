import {
  context,
  createTraceState,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Context,
  type Span,
  type SpanContext,
  type SpanOptions,
  type Tracer,
} from "@opentelemetry/api";
import { newTraceparent } from "@toolformer/protocol";

/** The instrumentation scope of every span the actors make. */
export const TRACER_NAME = "toolformer";

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * The span context a W3C `traceparent` (and `tracestate`) names, as a remote parent; undefined when the
 * header is missing or malformed (an all-zero id, version `ff`, a future version's shape it cannot read).
 */
export function spanContextOf(traceparent: string | undefined, tracestate?: string): SpanContext | undefined {
  const match = traceparent ? TRACEPARENT.exec(traceparent.trim()) : null;
  if (!match) return undefined;
  const [, version, traceId, spanId, flags, rest] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ];
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  const spanContext: SpanContext = {
    traceId,
    spanId,
    traceFlags: parseInt(flags, 16) & TraceFlags.SAMPLED,
    isRemote: true,
    ...(tracestate ? { traceState: createTraceState(tracestate) } : {}),
  };
  return isSpanContextValid(spanContext) ? spanContext : undefined;
}

/** The W3C `traceparent` of a span context. */
export function traceparentOf(spanContext: SpanContext): string {
  const flags = (spanContext.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, "0");
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}

/** A context whose parent is the remote span the headers name (the root context when they name none). */
export function remoteContext(traceparent: string | undefined, tracestate?: string): Context {
  const parent = spanContextOf(traceparent, tracestate);
  return parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT;
}

/** The trace headers of the active span, for a message or call that leaves this process; {} outside any. */
export function activeTraceHeaders(active: Context = context.active()): { traceparent?: string; tracestate?: string } {
  const spanContext = trace.getSpanContext(active);
  if (!spanContext || !isSpanContextValid(spanContext)) return {};
  const tracestate = spanContext.traceState?.serialize();
  return { traceparent: traceparentOf(spanContext), ...(tracestate ? { tracestate } : {}) };
}

/**
 * The trace headers for `traceparent`: with the active span's `tracestate` when that span is the one
 * it names (an envelope carries only the traceparent; the vendor state rides beside it).
 */
export function traceCarrier(traceparent: string): { traceparent: string; tracestate?: string } {
  const active = activeTraceHeaders();
  return active.tracestate && active.traceparent === traceparent
    ? { traceparent, tracestate: active.tracestate }
    : { traceparent };
}

/**
 * The `traceparent` an envelope carries on from here: the active span's, else `fallback` (what arrived),
 * else a new trace. Without an exporter the tracer makes no spans, and the arriving value travels on
 * unchanged, so logs and events of a request still share one trace id.
 */
export function traceparentHere(fallback?: string): string {
  return activeTraceHeaders().traceparent ?? (spanContextOf(fallback) ? fallback! : newTraceparent());
}

/** The ids a log line carries, from the active span; none outside one. */
export function traceFields(active: Context = context.active()): { trace_id?: string; span_id?: string } {
  const spanContext = trace.getSpanContext(active);
  if (!spanContext || !isSpanContextValid(spanContext)) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}

/**
 * The actors' tracer, asked of the API at each span. A tracer kept from before would be the API's proxy,
 * which delegates for good to the first SDK provider it meets, even once that provider is removed: the
 * unit tests share their modules, and after the one that registers the SDK, the no-op tracer's tests
 * made real spans (seed 3 of `--sequence.shuffle`).
 */
export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/**
 * `error.type` of a failure: the project's stable error code when it has one, else the error's class
 * name, else `_OTHER` (the conventions' fallback).
 */
export function errorTypeOf(error: unknown): string {
  if (typeof error === "object" && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === "string" && code !== "") return code;
    if (typeof name === "string" && name !== "" && name !== "Error") return name;
  }
  return "_OTHER";
}

/** Marks a span failed with `error.type` (no message: messages can carry what a client sent). */
export function failSpan(span: Span, error: unknown): void {
  span.setAttribute("error.type", errorTypeOf(error));
  span.setStatus({ code: SpanStatusCode.ERROR });
}

/**
 * Runs `work` inside a new span, child of `parent` (default: the active context), so spans and log
 * lines made meanwhile hang under it; the span ends when the work does, failed if it throws.
 */
export async function inSpan<T>(
  name: string,
  options: SpanOptions,
  work: (span: Span) => Promise<T>,
  parent: Context = context.active(),
): Promise<T> {
  const span = tracer().startSpan(name, options, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => work(span));
  } catch (error) {
    failSpan(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/**
 * Runs `work` in a new trace's root span linked to the span `linkTo` names: work a request caused but
 * did not ask for (a speculative call) stays out of the request's trace, and a backend follows the link.
 * `work` gets the traceparent to carry on: the new span's, or `linkTo` itself when tracing is off, so
 * log lines still correlate with the request.
 */
export function inLinkedRootSpan<T>(
  name: string,
  linkTo: string,
  attributes: SpanOptions["attributes"],
  work: (traceparent: string) => Promise<T>,
): Promise<T> {
  const linked = spanContextOf(linkTo);
  return inSpan(name, { root: true, attributes, ...(linked ? { links: [{ context: linked }] } : {}) }, () =>
    work(traceparentHere(linkTo)),
  );
}
