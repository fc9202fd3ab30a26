/**
 * The viewer role (ADR 0023) against a real nats-server: it reads what the dashboard and `toolformer
 * status` show and may cancel, and the server refuses it everything else. Each refusal sits beside the
 * same operation by a role that may do it, so a refusal is the permission, not a broken probe. Run it
 * on other servers with NATS_SERVER_BIN=/path/to/nats-server.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  approveSubject,
  CONSUMERS,
  INTERNAL_SUBJECTS,
  KV_BUCKETS,
  PUBLIC_SUBJECTS,
  RATE_LIMIT_KEYS,
  STREAMS,
  type Role,
} from "@toolformer/protocol";
import { startNatsServer, type NatsServer } from "@toolformer/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiRefused, publishRefused, subscribeRefused } from "../support/denials.ts";

describe("the viewer role", () => {
  let server: NatsServer;
  const connections = new Map<Role, NatsConnection>();
  const as = (role: Role) => connections.get(role)!;
  beforeAll(async () => {
    server = await startNatsServer();
    for (const role of ["admin", "client", "viewer"] as const) connections.set(role, await server.connect(role));
    // A durable on the events stream, as the speculation engine keeps one there.
    await (
      await jetstreamManager(as("admin"))
    ).consumers.add(STREAMS.events.name, { durable_name: CONSUMERS.speculationObserver });
  });
  afterAll(async () => {
    for (const nc of connections.values()) await nc.close();
    await server?.stop();
  });

  it("cannot send a request, ask for the tools, or publish on internal or event subjects", async () => {
    expect(await publishRefused(as("viewer"), PUBLIC_SUBJECTS.request)).toBe(true);
    expect(await publishRefused(as("viewer"), "orchestrate.tenant.acme.request")).toBe(true);
    expect(await publishRefused(as("viewer"), PUBLIC_SUBJECTS.tools)).toBe(true);
    expect(await publishRefused(as("viewer"), INTERNAL_SUBJECTS.exec("echo"))).toBe(true);
    expect(await publishRefused(as("viewer"), "orchestrate.events.someone")).toBe(true);
    expect(await publishRefused(as("client"), PUBLIC_SUBJECTS.request)).toBe(false);
  });

  it("cannot approve or deny a call, which the client role may (the dashboard approves with a client's connection, ADR 0028)", async () => {
    expect(await publishRefused(as("viewer"), approveSubject("some-request"))).toBe(true);
    expect(await publishRefused(as("client"), approveSubject("some-request"))).toBe(false);
  });

  it("may cancel a request", async () => {
    expect(await publishRefused(as("viewer"), "orchestrate.cancel.some-request")).toBe(false);
    expect(await publishRefused(as("viewer"), "orchestrate.cancel.@acme.some-request")).toBe(false);
  });

  it("cannot write any bucket, though it reads the tools and rate-limit buckets", async () => {
    for (const bucket of Object.values(KV_BUCKETS))
      expect(await publishRefused(as("viewer"), `$KV.${bucket}.probe`), bucket).toBe(true);
    expect(await publishRefused(as("admin"), `$KV.${KV_BUCKETS.rateLimits}.probe`)).toBe(false);
    const limits = await new Kvm(as("viewer")).open(KV_BUCKETS.rateLimits);
    expect(await limits.get(RATE_LIMIT_KEYS.scope("tool:none"))).toBeNull();
    const tools = await new Kvm(as("viewer")).open(KV_BUCKETS.tools);
    const keys: string[] = [];
    for await (const key of await tools.keys()) keys.push(key);
    expect(keys).toEqual([]);
    // The requests bucket (prompts, replies) is not among what it reads.
    expect(await apiRefused(as("viewer"), `$JS.API.STREAM.INFO.KV_${KV_BUCKETS.requests}`)).toBe(true);
  });

  it("reads the consumers' lag, and cannot delete, replace or purge anything", async () => {
    const jsm = await jetstreamManager(as("viewer"));
    const names: string[] = [];
    for await (const consumer of jsm.consumers.list(STREAMS.events.name)) names.push(consumer.name);
    expect(names).toContain(CONSUMERS.speculationObserver);
    await expect(jsm.consumers.info(STREAMS.exec.name, "absent")).rejects.toThrow(/consumer not found/);
    const events = STREAMS.events.name;
    for (const subject of [
      `$JS.API.CONSUMER.DELETE.${events}.${CONSUMERS.speculationObserver}`,
      `$JS.API.CONSUMER.DURABLE.CREATE.${events}.${CONSUMERS.speculationObserver}`,
      // A named create of an existing durable would update it.
      `$JS.API.CONSUMER.CREATE.${events}.${CONSUMERS.speculationObserver}`,
      `$JS.API.CONSUMER.CREATE.${events}.${CONSUMERS.speculationObserver}.orchestrate.events.>`,
      `$JS.API.CONSUMER.DELETE.${STREAMS.exec.name}.exec_echo`,
      `$JS.API.STREAM.PURGE.${events}`,
      `$JS.API.STREAM.DELETE.${events}`,
      `$JS.API.STREAM.MSG.DELETE.${events}`,
      `$JS.API.STREAM.MSG.GET.${STREAMS.requests.name}`,
    ])
      expect(await apiRefused(as("viewer"), subject), subject).toBe(true);
    expect(await apiRefused(as("admin"), `$JS.API.STREAM.PURGE.${events}`)).toBe(false);
  });

  it("reads the events stream through a consumer of its own, but hears no subject directly", async () => {
    const consumer = await jetstream(as("viewer")).consumers.get(STREAMS.events.name);
    expect((await consumer.info()).num_pending).toBe(0);
    await consumer.delete().catch(() => undefined);
    expect(await subscribeRefused(as("viewer"), "orchestrate.events.>")).toBe(true);
    expect(await subscribeRefused(as("viewer"), "$SRV.>")).toBe(true);
    expect(await subscribeRefused(as("viewer"), "tf.>")).toBe(true);
  });

  it("asks the service API, and serves none of it", async () => {
    for (const subject of ["$SRV.PING", "$SRV.INFO.toolformer-dispatcher", "$SRV.STATS"])
      expect(await publishRefused(as("viewer"), subject), subject).toBe(false);
  });
});
