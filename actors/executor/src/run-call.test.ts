import { describe, expect, it } from "vitest";
import { CancelReason, type ToolCallRecord } from "@toolformer/protocol";
import type { Clock } from "@toolformer/runtime";
import { execCall } from "@toolformer/testing";
import { TimeoutReason } from "./abort-reasons.ts";
import type { CallDeps } from "./call-deps.ts";
import type { ToolInvoker } from "./invokers.ts";
import { runCall } from "./run-call.ts";

/** A clock the test moves: timers fire only when `advance` passes them. */
function movedClock() {
  let now = 0;
  const timers = new Set<{ at: number; fire: () => void }>();
  const clock: Clock = {
    now: () => now,
    setTimeout: (fire, ms) => {
      const timer = { at: now + ms, fire };
      timers.add(timer);
      return timer;
    },
    clearTimeout: (handle) => timers.delete(handle as { at: number; fire: () => void }),
  };
  const advance = (ms: number) => {
    now += ms;
    for (const timer of [...timers].filter((t) => t.at <= now)) {
      timers.delete(timer);
      timer.fire();
    }
  };
  return { clock, advance, pending: () => timers.size };
}

const call = execCall();

const log = { info: () => {}, warn: () => {}, child: () => log } as never;
const settle = () => new Promise((resolve) => setImmediate(resolve));

function world(invoke: ToolInvoker["invoke"], acquire?: CallDeps["acquirePermit"]) {
  const records: ToolCallRecord[] = [];
  const events: string[] = [];
  let released = 0;
  const claimWrites: string[] = [];
  const invoker: ToolInvoker = {
    definition: {
      name: "t",
      description: "",
      parameters: {},
      readOnly: false,
      idempotent: false,
      timeoutMs: 1_000,
      source: "typescript",
    },
    invoke,
  };
  const deps: CallDeps = {
    executorId: "x1",
    invoker: () => invoker,
    onCancel: (_r: string, _l: (reason: CancelReason) => void) => () => {},
    onCallCancel: () => () => {},
    hasResult: async () => false,
    claims: {
      claim: async () => ({ kind: "taken", revision: 1 }),
      renew: async (_call, _run, revision) => (claimWrites.push(`renew ${revision}`), revision + 1),
      release: async (_call, _run, revision) => void claimWrites.push(`release ${revision}`),
    },
    acquirePermit:
      acquire ??
      (async () => ({
        waitedFor: [],
        started: () => {},
        release: async () => {
          released++;
        },
      })),
    blockTool: async () => {},
    publishEvent: async (_call, event) => void events.push(event.type),
    publishResult: async (_call, record) => void records.push(record),
    resultCache: {
      claim: async () => ({ kind: "lead" }),
      through: async (_call, _tool, run) => ({ value: await run(), cached: false }),
      release: async () => {},
    },
    log,
  };
  return { deps, records, events, claimWrites, released: () => released };
}

describe("runCall, the shell around the call flow", () => {
  it("aborts a tool that runs past its timeout when the clock passes it, and records a timeout", async () => {
    const { clock, advance } = movedClock();
    let reason: unknown;
    const hanging = world(
      (_args, ctx) =>
        new Promise((_resolve, reject) =>
          ctx.signal.addEventListener("abort", () => reject((reason = ctx.signal.reason) as Error)),
        ),
    );
    const running = runCall(
      call,
      { deliveryCount: 1, redelivered: false, stopping: new AbortController().signal },
      hanging.deps,
      clock,
    );
    await settle();
    expect(hanging.events).toEqual(["tool.started"]);
    advance(999);
    await settle();
    expect(hanging.records).toEqual([]);
    advance(1);
    expect(await running).toEqual({ kind: "ack" });
    expect(reason).toBeInstanceOf(TimeoutReason);
    expect(hanging.records).toMatchObject([{ status: "timeout", durationMs: 1_000 }]);
    expect(hanging.released()).toBe(1);
  });

  it("renews a running call's places on the clock until they go back, and leaves no timer after a cancel", async () => {
    for (const end of ["succeeds", "is cancelled"] as const) {
      const { clock, advance, pending } = movedClock();
      let finishTool: () => void = () => {};
      let cancel: (reason: CancelReason) => void = () => {};
      const steps: string[] = [];
      const long = world(
        (_args, ctx) =>
          new Promise((resolve, reject) => {
            finishTool = () => resolve("done");
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason as Error));
          }),
        async () => ({
          waitedFor: [],
          started: () => {},
          renewal: { everyMs: 300, renew: async () => void steps.push(`renew ${clock.now()}`) },
          release: async () => void steps.push(`release ${clock.now()}`),
        }),
      );
      long.deps.onCancel = (_requestId, listener) => ((cancel = listener), () => {});
      const running = runCall(
        { ...call, timeoutMs: 10_000 },
        { deliveryCount: 1, redelivered: false, stopping: new AbortController().signal },
        long.deps,
        clock,
      );
      await settle();
      for (let i = 0; i < 5; i++) advance(300);
      if (end === "succeeds") finishTool();
      else cancel(CancelReason.client);
      expect(await running).toEqual({ kind: "ack" });
      expect(pending()).toBe(0);
      advance(3_000);
      await settle();
      expect(steps).toEqual(["renew 300", "renew 600", "renew 900", "renew 1200", "renew 1500", "release 1500"]);
    }
  });

  it("hands back a call whose permit was granted while the copy stopped, giving its places and its claim back", async () => {
    const stopping = new AbortController();
    let ran = false;
    let grant: () => void = () => {};
    const waiting = world(
      async () => (ran = true),
      (_call, _signal, stopAsking) =>
        new Promise((resolve) => {
          grant = () => resolve({ waitedFor: [], started: () => {}, release: async () => {} });
          stopAsking.addEventListener("abort", () => grant());
        }),
    );
    const running = runCall(
      call,
      { deliveryCount: 1, redelivered: false, stopping: stopping.signal },
      waiting.deps,
      movedClock().clock,
    );
    await settle();
    stopping.abort();
    expect(await running).toEqual({ kind: "handBack" });
    expect(ran).toBe(false);
    expect(waiting.records).toEqual([]);
    await settle();
    expect(waiting.claimWrites).toEqual(["release 1"]);
  });
});
