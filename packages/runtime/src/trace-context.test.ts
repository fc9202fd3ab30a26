import { context, ROOT_CONTEXT, trace, TraceFlags } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  activeTraceHeaders,
  errorTypeOf,
  inSpan,
  remoteContext,
  spanContextOf,
  traceCarrier,
  traceFields,
  traceparentHere,
  traceparentOf,
} from "./trace-context.ts";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID = "00f067aa0ba902b7";
const TRACEPARENT = `00-${TRACE_ID}-${SPAN_ID}-01`;

describe("W3C trace context in headers", () => {
  it("reads a traceparent and tracestate as a remote parent, and writes the same traceparent back", () => {
    const parent = spanContextOf(TRACEPARENT, "vendor=abc,other=1");
    expect(parent).toMatchObject({
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
    expect(parent?.traceState?.get("vendor")).toBe("abc");
    expect(traceparentOf(parent!)).toBe(TRACEPARENT);
    expect(traceparentOf({ ...parent!, traceFlags: TraceFlags.NONE })).toBe(`00-${TRACE_ID}-${SPAN_ID}-00`);
  });

  it("reads a later version's traceparent by its first four fields, as the spec asks", () => {
    expect(spanContextOf(`01-${TRACE_ID}-${SPAN_ID}-01-what-comes-next`)?.spanId).toBe(SPAN_ID);
  });

  it("refuses malformed, all-zero and forbidden-version values", () => {
    for (const bad of [
      undefined,
      "",
      "garbage",
      `00-${TRACE_ID}-${SPAN_ID}`,
      `00-${"0".repeat(32)}-${SPAN_ID}-01`,
      `00-${TRACE_ID}-${"0".repeat(16)}-01`,
      `ff-${TRACE_ID}-${SPAN_ID}-01`,
      `00-${TRACE_ID}-${SPAN_ID}-01-extra`,
      `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`,
    ])
      expect(spanContextOf(bad), String(bad)).toBeUndefined();
    expect(remoteContext("garbage")).toBe(ROOT_CONTEXT);
  });
});

describe("the active span, without an exporter (the API's no-op tracer)", () => {
  const manager = new AsyncLocalStorageContextManager();
  beforeAll(() => context.setGlobalContextManager(manager.enable()));
  afterAll(() => {
    context.disable();
  });

  it("carries the incoming traceparent on, unchanged, through spans and awaits, into log fields", async () => {
    const seen = await inSpan(
      "work",
      {},
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        return { here: traceparentHere("ignored"), fields: traceFields(), headers: activeTraceHeaders() };
      },
      remoteContext(TRACEPARENT, "vendor=abc"),
    );
    expect(seen.here).toBe(TRACEPARENT);
    expect(seen.fields).toEqual({ trace_id: TRACE_ID, span_id: SPAN_ID });
    expect(seen.headers).toEqual({ traceparent: TRACEPARENT, tracestate: "vendor=abc" });
  });

  it("hands on the tracestate only beside the traceparent it belongs to", async () => {
    const inside = await inSpan(
      "work",
      {},
      async () => [traceCarrier(TRACEPARENT), traceCarrier("00-other")],
      remoteContext(TRACEPARENT, "v=1"),
    );
    expect(inside).toEqual([{ traceparent: TRACEPARENT, tracestate: "v=1" }, { traceparent: "00-other" }]);
  });

  it("keeps what arrived when no span is active, and starts a trace when nothing valid arrived", () => {
    expect(traceparentHere(TRACEPARENT)).toBe(TRACEPARENT);
    expect(traceFields()).toEqual({});
    const fresh = traceparentHere("not-a-traceparent");
    expect(spanContextOf(fresh)).toBeDefined();
    expect(fresh).not.toBe(traceparentHere(undefined));
  });

  it("ends a failed span and rethrows: the caller's error is untouched", async () => {
    const failure = Object.assign(new Error("no"), { code: "TOOL_FAILED" });
    await expect(inSpan("work", {}, () => Promise.reject(failure))).rejects.toBe(failure);
    expect(trace.getActiveSpan()).toBeUndefined();
  });
});

describe("error.type", () => {
  it("is the project's error code, else the class name, else _OTHER", () => {
    expect(errorTypeOf(Object.assign(new Error("x"), { code: "PROVIDER_ERROR" }))).toBe("PROVIDER_ERROR");
    expect(errorTypeOf(new TypeError("x"))).toBe("TypeError");
    expect(errorTypeOf(new Error("x"))).toBe("_OTHER");
    expect(errorTypeOf("a string")).toBe("_OTHER");
  });
});
