import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { rateLimiterActor } from "@toolformer/rate-limiter";
import { BaseConfigSchema, startActor, type RunningActor } from "@toolformer/runtime";
import { freePort, startNatsServer, type NatsServer } from "@toolformer/testing";

const LIVENESS_DISCONNECTED_MS = 1_500;

async function probe(port: number, path: "/healthz" | "/readyz"): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2_000) });
  return { status: response.status, body: await response.text() };
}

/** Polls a probe until it answers `status`; returns the answer and when it came. */
async function until(port: number, path: "/healthz" | "/readyz", status: number, timeoutMs = 10_000) {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const answer = await probe(port, path);
    if (answer.status === status) return { ...answer, atMs: Date.now() };
    if (Date.now() > giveUpAt) throw new Error(`${path} still answers ${answer.status} ${answer.body}`);
    await sleep(50);
  }
}

describe("the health endpoints Kubernetes probes (deploy/k8s)", () => {
  let server: NatsServer;
  let actor: RunningActor;
  let port: number;
  beforeAll(async () => {
    server = await startNatsServer();
    port = await freePort();
    const config = BaseConfigSchema.parse({
      natsUrl: server.url,
      natsAuth: server.credentials("rate-limiter"),
      logLevel: "silent",
      metricsPort: port,
      livenessDisconnectedMs: LIVENESS_DISCONNECTED_MS,
    });
    actor = await startActor(rateLimiterActor({ rateLimits: { scopes: [] }, agingMs: 1_000 }), config);
  });
  afterAll(async () => {
    await actor?.stop();
    await server?.stop();
  });

  it("takes a copy out at once when NATS goes, fails liveness only past the limit, and recovers", async () => {
    expect(await probe(port, "/healthz")).toEqual({ status: 200, body: "connected to NATS" });
    expect(await probe(port, "/readyz")).toEqual({ status: 200, body: "serving, connected to NATS" });

    const killedAt = Date.now();
    await server.kill();
    const notReady = await until(port, "/readyz", 503);
    expect(notReady.body).toBe("NATS connection disconnected");
    // Reconnecting is not dead: a NATS node's restart must not restart every actor.
    const stillLive = await probe(port, "/healthz");
    if (Date.now() - killedAt < LIVENESS_DISCONNECTED_MS) expect(stillLive.status).toBe(200);
    const dead = await until(port, "/healthz", 503);
    expect(dead.atMs - killedAt).toBeGreaterThanOrEqual(LIVENESS_DISCONNECTED_MS);
    expect(dead.body).toMatch(/^no NATS connection for \d+ ms \(limit 1500 ms\)$/);

    await server.restart();
    await until(port, "/healthz", 200, 15_000);
    expect((await until(port, "/readyz", 200, 15_000)).body).toBe("serving, connected to NATS");
  });
});
