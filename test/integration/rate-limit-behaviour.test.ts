import { type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cancelSubject,
  ErrorCode,
  rateLimitLineOf,
  TerminalError,
  type AcquireRequest,
  type RateLimitScope,
} from "@toolformer/protocol";
import { ownerOf, rateLimiterActor } from "@toolformer/rate-limiter";
import { BaseConfigSchema, startActor, type RunningActor } from "@toolformer/runtime";
import { acquirePermits } from "@toolformer/rate-limit-client";
import { maxInAnyWindow, permitRequest, saturate, startNatsServer, type NatsServer } from "@toolformer/testing";

let nats: NatsServer;
let nc: NatsConnection;
let limiters: RunningActor[] = [];
let sequence = 0;

const startLimiter = (server: NatsServer = nats) =>
  startActor(
    rateLimiterActor({ rateLimits: { scopes: [] }, agingMs: 1_000 }),
    BaseConfigSchema.parse({
      natsUrl: server.url,
      natsAuth: server.credentials("rate-limiter"),
      logLevel: process.env.TEST_LOG_LEVEL ?? "silent",
    }),
  );

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await nats.connect("admin");
  limiters = [await startLimiter(), await startLimiter()];
});
afterAll(async () => {
  await nc?.close();
  await Promise.all(limiters.map((l) => l.stop()));
  await nats?.stop();
});

/** One acquire; resolves with "granted" or the error code it failed with. */
async function acquire(
  scopes: RateLimitScope[],
  options: Partial<Omit<AcquireRequest, "scopes">> & { signal?: AbortSignal } = {},
): Promise<{ outcome: string; details?: unknown; ms: number }> {
  const startedAt = Date.now();
  const { signal, ...fields } = options;
  try {
    await acquirePermits(
      nc,
      permitRequest({ requestId: "req", callId: `c${++sequence}`, deadline: Date.now() + 30_000, scopes, ...fields }),
      signal ?? new AbortController().signal,
    );
    return { outcome: "granted", ms: Date.now() - startedAt };
  } catch (error) {
    if (!(error instanceof TerminalError)) throw error;
    return { outcome: error.code, details: error.details, ms: Date.now() - startedAt };
  }
}

const scope = (name: string, limit: number, intervalMs = 60_000): RateLimitScope => ({
  key: `tool:${name}`,
  limit,
  intervalMs,
});

describe("the rate limiter", () => {
  it("fails fast, with a retry-after, a call that cannot get room before its deadline", async () => {
    const rare = scope("rare", 1);
    expect((await acquire([rare])).outcome).toBe("granted");
    const late = await acquire([rare], { deadline: Date.now() + 2_000 });
    // How fast it refuses is the waiting room's decision, timed in waiting-room.test.ts.
    expect(late.outcome).toBe(ErrorCode.RATE_LIMITED);
    expect((late.details as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(55_000);
  });

  it("takes every scope or none: a refusing scope leaves the others untouched", async () => {
    const wide = scope("wide", 3);
    const narrow = scope("narrow", 1);
    expect((await acquire([narrow])).outcome).toBe("granted");
    // Refused by `narrow`, so it must not keep a place in `wide`, whether it fails fast or waits.
    expect((await acquire([wide, narrow], { deadline: Date.now() + 1_000 })).outcome).toBe(ErrorCode.RATE_LIMITED);
    const waiter = new AbortController();
    const waiting = acquire([wide, narrow], { signal: waiter.signal, requestId: "waiting" });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const alone = await Promise.all([1, 2, 3].map(() => acquire([wide], { deadline: Date.now() + 1_000 })));
    expect(alone.map((a) => a.outcome)).toEqual(["granted", "granted", "granted"]);
    expect((await acquire([wide], { deadline: Date.now() + 1_000 })).outcome).toBe(ErrorCode.RATE_LIMITED);
    waiter.abort();
    await waiting.catch(() => undefined);
  });

  it("drops the waiters of a cancelled request at once, and their turns go to others", async () => {
    const slow = scope("slow", 1, 1_000);
    expect((await acquire([slow])).outcome).toBe("granted");
    const doomed = [1, 2, 3, 4].map(() => acquire([slow], { requestId: "doomed" }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const other = acquire([slow], { requestId: "alive" });
    await new Promise((resolve) => setTimeout(resolve, 50));
    nc.publish(cancelSubject("doomed"));
    // How soon they are dropped is timed in waiting-room.test.ts; here, that the broadcast reaches them.
    const dropped = await Promise.all(doomed);
    expect(dropped.map((d) => d.outcome)).toEqual(Array(4).fill(ErrorCode.CANCELLED));
    // The live request came after four cancelled ones, yet gets the very next window.
    const alive = await other;
    expect(alive.outcome).toBe("granted");
    expect(alive.ms).toBeLessThan(1_500);
  });

  it("keeps its state across a restart of every limiter", async () => {
    const daily = scope("daily", 2, 86_400_000);
    expect((await acquire([daily])).outcome).toBe("granted");
    expect((await acquire([daily])).outcome).toBe("granted");
    await Promise.all(limiters.map((l) => l.stop()));
    limiters = [await startLimiter(), await startLimiter()];
    expect((await acquire([daily], { deadline: Date.now() + 2_000 })).outcome).toBe(ErrorCode.RATE_LIMITED);
  });

  it("is fair between tenants across copies: a flood cannot take more than its share while another tenant waits", async () => {
    // Three copies on a server of their own (the flood would slow the other tests): every call for one
    // tool waits in the line of the one copy that owns it, so the share is as exact as on one copy.
    await using own = await startNatsServer();
    const copies = await Promise.all([1, 2, 3].map(() => startLimiter(own)));
    const shared: RateLimitScope = { key: "config:shared", limit: 20, intervalMs: 500 };
    const grants = await saturate({
      servers: [own.url],
      auth: own.credentials("dispatcher"),
      callers: 110,
      scopes: [shared],
      durationMs: 3_000,
      tenantOf: (caller) => (caller < 100 ? "flood" : "quiet"), // 100 callers against 10
    }).finally(() => Promise.all(copies.map((copy) => copy.stop())));
    // The first window goes to whoever asked first; from then on both tenants are waiting.
    const contended = grants.filter((g) => g.at >= grants[0]!.at + shared.intervalMs);
    const quiet = contended.filter((g) => g.tenant === "quiet").length;
    const share = quiet / contended.length;
    console.info(
      `fairness: quiet tenant got ${quiet} of ${contended.length} contended grants (${(share * 100).toFixed(0)}%)`,
    );
    // By callers the quiet tenant would get 9%; taking turns, it gets half.
    expect(share).toBeGreaterThanOrEqual(0.4);
    expect(share).toBeLessThanOrEqual(0.6);
  });

  it("hands a line over when the copy serving it leaves, without a gap or a call over the limit", async () => {
    await using own = await startNatsServer();
    const copies = await Promise.all([1, 2, 3].map(() => startLimiter(own)));
    const steady: RateLimitScope = { key: "tool:steady", limit: 10, intervalMs: 250 };
    // The copy serving the line leaves while it is busy, then the one that took it over.
    const line = rateLimitLineOf(permitRequest({ callId: "any", scopes: [] }).target);
    let remaining = [...copies];
    const leaveOwner = async () => {
      const owner = ownerOf(line, remaining.map((copy) => copy.actorId).sort())!;
      remaining = remaining.filter((copy) => copy.actorId !== owner);
      await copies.find((copy) => copy.actorId === owner)!.stop();
    };
    const leaving = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 700));
      await leaveOwner();
      await new Promise((resolve) => setTimeout(resolve, 700));
      await leaveOwner();
    })();
    const grants = await saturate({
      servers: [own.url],
      auth: own.credentials("dispatcher"),
      callers: 40,
      scopes: [steady],
      durationMs: 2_500,
    }).finally(async () => {
      await leaving;
      await Promise.all(remaining.map((copy) => copy.stop()));
    });
    const times = grants.map((g) => g.at);
    const longestGap = Math.max(...times.slice(1).map((at, i) => at - times[i]!));
    console.info(`handover: ${grants.length} grants, longest gap ${longestGap} ms`);
    expect(maxInAnyWindow(times, steady.intervalMs)).toBeLessThanOrEqual(steady.limit);
    // The window frees every 250 ms; a lost line would stall callers for the 7 s acquire timeout.
    expect(longestGap).toBeLessThan(1_000);
    expect(grants.length).toBeGreaterThanOrEqual(60); // 10 per 250 ms is 100 in 2.5 s
  });
});
