import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rateLimiterActor } from "@toolformer/rate-limiter";
import { BaseConfigSchema, startActor, type RunningActor } from "@toolformer/runtime";
import {
  maxInAnyWindow,
  saturate,
  startNatsCluster,
  startNatsServer,
  type NatsCluster,
  type NatsServer,
} from "@toolformer/testing";

const LIMIT = 20;
const INTERVAL_MS = 1_000;
const WINDOWS = 4;

async function startLimiters(nats: NatsServer | NatsCluster, copies: number): Promise<RunningActor[]> {
  const config = BaseConfigSchema.parse({
    natsUrl: nats.url,
    natsAuth: nats.credentials("rate-limiter"),
    logLevel: process.env.TEST_LOG_LEVEL ?? "silent",
  });
  const actor = rateLimiterActor({ rateLimits: { scopes: [] }, agingMs: 1_000 });
  return Promise.all(Array.from({ length: copies }, () => startActor(actor, config)));
}

/** Grants inside the first WINDOWS whole intervals, from the first grant. */
function usedShare(times: number[]): number {
  const first = times[0] ?? 0;
  const inside = times.filter((t) => t < first + WINDOWS * INTERVAL_MS).length;
  return inside / (WINDOWS * LIMIT);
}

describe("rate-limit precision: 3 limiter copies, 200 callers on one scope", () => {
  it("on one node: never more than the limit in any window, and at least 95% of it used", async () => {
    await using nats = await startNatsServer();
    const limiters = await startLimiters(nats, 3);
    try {
      const grants = await saturate({
        servers: [nats.url],
        auth: nats.credentials("dispatcher"),
        callers: 200,
        scopes: [{ key: "tool:precision", limit: LIMIT, intervalMs: INTERVAL_MS }],
        durationMs: WINDOWS * INTERVAL_MS + 600,
      });
      const times = grants.map((g) => g.at);
      console.info(
        `one node: max ${maxInAnyWindow(times, INTERVAL_MS)}/${LIMIT} per window, used ${(usedShare(times) * 100).toFixed(1)}%`,
      );
      expect(maxInAnyWindow(times, INTERVAL_MS)).toBeLessThanOrEqual(LIMIT);
      expect(usedShare(times)).toBeGreaterThanOrEqual(0.95);
    } finally {
      await Promise.all(limiters.map((l) => l.stop()));
    }
  }, 30_000);

  it("with a token bucket: never more than limit + burst in any window", async () => {
    await using nats = await startNatsServer();
    const limiters = await startLimiters(nats, 3);
    try {
      const burst = 10;
      const grants = await saturate({
        servers: [nats.url],
        auth: nats.credentials("dispatcher"),
        callers: 200,
        scopes: [{ key: "config:bucket", limit: LIMIT, intervalMs: INTERVAL_MS, burst }],
        durationMs: 3 * INTERVAL_MS,
      });
      const times = grants.map((g) => g.at);
      expect(maxInAnyWindow(times, INTERVAL_MS)).toBeLessThanOrEqual(LIMIT + burst);
      expect(times.length).toBeGreaterThanOrEqual(burst + Math.floor(LIMIT * 2.5));
    } finally {
      await Promise.all(limiters.map((l) => l.stop()));
    }
  }, 30_000);
});

describe("rate-limit precision on a 3-node cluster", () => {
  let cluster: Awaited<ReturnType<typeof startNatsCluster>>;
  let limiters: RunningActor[] = [];
  beforeAll(async () => {
    cluster = await startNatsCluster({ size: 3 });
    limiters = await startLimiters(cluster, 3);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(limiters.map((l) => l.stop()));
    await cluster?.stop();
  });

  it("never admits more than the limit while a node restarts", async () => {
    const load = saturate({
      servers: cluster.urls,
      auth: cluster.credentials("dispatcher"),
      callers: 200,
      scopes: [{ key: "tool:failover", limit: LIMIT, intervalMs: INTERVAL_MS }],
      durationMs: 6 * INTERVAL_MS,
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await cluster.restartNode(1);
    const times = (await load).map((g) => g.at);
    console.info(
      `cluster: max ${maxInAnyWindow(times, INTERVAL_MS)}/${LIMIT} per window, ${times.length} grants in 6 s`,
    );
    expect(maxInAnyWindow(times, INTERVAL_MS)).toBeLessThanOrEqual(LIMIT);
    expect(times.length).toBeGreaterThan(2 * LIMIT); // it kept admitting around the restart
  }, 60_000);
});
