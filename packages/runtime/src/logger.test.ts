import { Writable } from "node:stream";
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { describe, expect, it } from "vitest";
import { REDACTED } from "@toolformer/protocol";
import { createLogger, lazyChild } from "./logger.ts";
import { inSpan, remoteContext } from "./trace-context.ts";

function capture(): { lines: () => Record<string, unknown>[]; stream: Writable } {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return {
    stream,
    lines: () =>
      text
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe("the actors' logger", () => {
  it("censors provider keys, credentials, prompts and tool arguments, at the top and one level down", () => {
    const { stream, lines } = capture();
    const log = createLogger("dispatcher", "d-1", "info", stream);
    log.info({ config: { apiKey: "sk-planted", natsUrl: "nats://127.0.0.1:4222" } }, "configured");
    log.info({ password: "hunter2", nats: { user: "ada", pass: "hunter2", token: "t0k" } }, "connected");
    log.warn({ requestId: "r1", prompt: "my key is sk-planted", call: { tool: "login", args: { pw: "x" } } }, "x");
    log.error({ err: { message: "401", headers: { authorization: "Bearer sk-planted", "x-api-key": "sk-ant" } } }, "y");
    const text = JSON.stringify(lines());
    for (const secret of ["sk-planted", "hunter2", "t0k", "sk-ant", '"pw"']) expect(text).not.toContain(secret);
    const [configured, connected, warned] = lines();
    // Only the secrets go: what an operator needs to read the line stays.
    expect(configured?.config).toEqual({ apiKey: REDACTED, natsUrl: "nats://127.0.0.1:4222" });
    expect(connected?.nats).toEqual({ user: "ada", pass: REDACTED, token: REDACTED });
    expect(warned).toMatchObject({ requestId: "r1", prompt: REDACTED, call: { tool: "login", args: REDACTED } });
  });

  it("puts the active span's trace and span ids on the lines written inside it, and none outside", async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    try {
      const { stream, lines } = capture();
      const log = createLogger("executor", "e-1", "info", stream);
      const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
      log.info("before");
      await inSpan("call", {}, async () => log.child({ callId: "c1" }).info("inside"), remoteContext(traceparent));
      const [before, inside] = lines();
      expect(before).not.toHaveProperty("trace_id");
      expect(inside).toMatchObject({
        callId: "c1",
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
        span_id: "00f067aa0ba902b7",
      });
    } finally {
      context.disable();
    }
  });

  it("makes a lazy child only when it is used, with the child's bindings and the parent's redaction", () => {
    const { stream, lines } = capture();
    const parent = createLogger("executor", "e-1", "info", stream);
    let made = 0;
    const child = parent.child;
    // pino's children inherit from their parent: count only the children with the lazy one's bindings.
    parent.child = function (this: typeof parent, ...args: Parameters<typeof child>) {
      if ("callId" in args[0]) made++;
      return child.apply(this, args);
    } as typeof child;
    const log = lazyChild(parent, { requestId: "r-1", callId: "c-1" });
    expect(made).toBe(0);
    log.info({ args: { secret: 1 } }, "first");
    log.child({ attempt: 2 }).warn("second");
    expect(made).toBe(1);
    expect(lines()).toMatchObject([
      { msg: "first", requestId: "r-1", callId: "c-1", args: REDACTED },
      { msg: "second", requestId: "r-1", callId: "c-1", attempt: 2 },
    ]);
  });
});
