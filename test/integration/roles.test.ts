import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  EVENTS_WILDCARD,
  INTERNAL_SUBJECTS,
  KV_BUCKETS,
  PUBLIC_SUBJECTS,
  STREAMS,
  TENANT_SUBJECTS,
  tenantJetStreamApiPrefix,
  type Role,
} from "@toolformer/protocol";
import { startNatsServer, type NatsServer } from "@toolformer/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiRefused, publishRefused, requestRefused, subscribeRefused } from "../support/denials.ts";

/**
 * Each role against a real nats-server with the roles' permissions (docs/security.md): what it must
 * not do is refused by the server, and the same operation by a role that may do it goes through, so a
 * refusal seen here is the permission, not a broken probe.
 */
describe("every role is denied what it must not do", () => {
  let server: NatsServer;
  const connections = new Map<Role, NatsConnection>();
  const as = (role: Role) => connections.get(role)!;
  beforeAll(async () => {
    server = await startNatsServer();
    for (const role of [
      "admin",
      "client",
      "dispatcher",
      "scheduler",
      "rate-limiter",
      "speculation",
      "executor",
      "tool-provider",
    ] as const)
      connections.set(role, await server.connect(role));
  });
  afterAll(async () => {
    for (const nc of connections.values()) await nc.close();
    await server?.stop();
  });

  const kvPut = (role: Role, bucket: string) => async () =>
    (await new Kvm(as(role)).open(bucket)).put("probe", new Uint8Array([1]));
  const kvWrite = (bucket: string) => `$KV.${bucket}.probe`;

  describe("a client", () => {
    it("cannot publish work on the internal subjects, which only validation stood in front of before", async () => {
      expect(await publishRefused(as("client"), INTERNAL_SUBJECTS.exec("echo"))).toBe(true);
      expect(await publishRefused(as("client"), INTERNAL_SUBJECTS.requestRun("evil"))).toBe(true);
      expect(await publishRefused(as("client"), INTERNAL_SUBJECTS.roundSubmit("evil"))).toBe(true);
      expect(await publishRefused(as("client"), INTERNAL_SUBJECTS.rateLimitPresence)).toBe(true);
      expect(await publishRefused(as("client"), INTERNAL_SUBJECTS.speculationPredict)).toBe(true);
      // The roles that own those subjects may.
      expect(await publishRefused(as("scheduler"), INTERNAL_SUBJECTS.exec("echo"))).toBe(false);
      expect(await publishRefused(as("dispatcher"), INTERNAL_SUBJECTS.requestRun("evil"))).toBe(false);
    });

    it("may send requests, ask for tools and cancel", async () => {
      expect(await publishRefused(as("client"), PUBLIC_SUBJECTS.request)).toBe(false);
      expect(await publishRefused(as("client"), PUBLIC_SUBJECTS.tools)).toBe(false);
      expect(await publishRefused(as("client"), "orchestrate.cancel.some-request")).toBe(false);
    });

    it("cannot publish events, nor listen on the events or internal subjects", async () => {
      expect(await publishRefused(as("client"), "orchestrate.events.someone-else")).toBe(true);
      expect(await subscribeRefused(as("client"), EVENTS_WILDCARD)).toBe(true);
      expect(await subscribeRefused(as("client"), "tf.>")).toBe(true);
      expect(await subscribeRefused(as("admin"), "tf.>")).toBe(false);
    });

    it("cannot write or read the orchestrator's buckets", async () => {
      for (const bucket of [
        KV_BUCKETS.speculationCalls,
        KV_BUCKETS.rateLimits,
        KV_BUCKETS.requests,
        KV_BUCKETS.tools,
      ]) {
        expect(await requestRefused(kvPut("client", bucket), kvWrite(bucket))).toBe(true);
        expect(await publishRefused(as("client"), `$KV.${bucket}.probe`)).toBe(true);
      }
      expect(
        await requestRefused(kvPut("admin", KV_BUCKETS.speculationCalls), kvWrite(KV_BUCKETS.speculationCalls)),
      ).toBe(false);
    });

    it("cannot serve the public subjects in the dispatcher's place, nor announce a service", async () => {
      expect(await subscribeRefused(as("client"), PUBLIC_SUBJECTS.request)).toBe(true);
      expect(await subscribeRefused(as("client"), "$SRV.INFO")).toBe(true);
      expect(await subscribeRefused(as("dispatcher"), PUBLIC_SUBJECTS.request)).toBe(false);
    });
  });

  describe("an executor", () => {
    it("cannot touch the requests bucket", async () => {
      expect(await requestRefused(kvPut("executor", KV_BUCKETS.requests), kvWrite(KV_BUCKETS.requests))).toBe(true);
      expect(await publishRefused(as("executor"), `$KV.${KV_BUCKETS.requests}.probe`)).toBe(true);
      expect(await requestRefused(kvPut("dispatcher", KV_BUCKETS.requests), kvWrite(KV_BUCKETS.requests))).toBe(false);
    });

    it("cannot queue requests or rounds, nor read other actors' streams, though it calls remote tools anywhere", async () => {
      expect(await publishRefused(as("executor"), INTERNAL_SUBJECTS.requestRun("evil"))).toBe(true);
      expect(await publishRefused(as("executor"), INTERNAL_SUBJECTS.roundSubmit("evil"))).toBe(true);
      expect(await publishRefused(as("executor"), PUBLIC_SUBJECTS.request)).toBe(true);
      const events = new RegExp(`^\\$JS\\.API\\.CONSUMER\\.CREATE\\.${STREAMS.events.name}\\b`);
      expect(await requestRefused(() => jetstream(as("executor")).consumers.get(STREAMS.events.name), events)).toBe(
        true,
      );
      expect(await publishRefused(as("executor"), "market.lookup")).toBe(false);
    });
  });

  describe("no actor can change what was provisioned", () => {
    it.each(["dispatcher", "scheduler", "rate-limiter", "speculation", "executor"] as const)(
      "%s cannot delete, purge or reconfigure a stream, nor create one",
      async (role) => {
        const stream = STREAMS.exec.name;
        for (const operation of ["DELETE", "PURGE", "UPDATE"])
          expect(await apiRefused(as(role), `$JS.API.STREAM.${operation}.${stream}`), operation).toBe(true);
        expect(await apiRefused(as(role), "$JS.API.STREAM.CREATE.ROGUE")).toBe(true);
      },
    );

    it("the admin can", async () => {
      const jsm = await jetstreamManager(as("admin"));
      expect(
        await requestRefused(
          () => jsm.streams.add({ name: "ADMIN_MADE", subjects: ["admin.>"] }),
          "$JS.API.STREAM.CREATE.ADMIN_MADE",
        ),
      ).toBe(false);
      expect(await requestRefused(() => jsm.streams.delete("ADMIN_MADE"), "$JS.API.STREAM.DELETE.ADMIN_MADE")).toBe(
        false,
      );
    });
  });

  describe("each actor keeps to its own part", () => {
    it("the rate limiter cannot publish events, work or requests, nor read the events", async () => {
      expect(await publishRefused(as("rate-limiter"), "orchestrate.events.x")).toBe(true);
      expect(await publishRefused(as("rate-limiter"), INTERNAL_SUBJECTS.exec("echo"))).toBe(true);
      expect(await subscribeRefused(as("rate-limiter"), EVENTS_WILDCARD)).toBe(true);
      expect(await requestRefused(kvPut("rate-limiter", KV_BUCKETS.requests), kvWrite(KV_BUCKETS.requests))).toBe(true);
    });

    it("the scheduler and the speculation engine cannot queue requests or write the requests bucket", async () => {
      for (const role of ["scheduler", "speculation"] as const) {
        expect(await publishRefused(as(role), INTERNAL_SUBJECTS.requestRun("evil"))).toBe(true);
        expect(await requestRefused(kvPut(role, KV_BUCKETS.requests), kvWrite(KV_BUCKETS.requests))).toBe(true);
      }
    });

    it("the dispatcher cannot write the rate-limit windows or hand work to executors directly", async () => {
      expect(await publishRefused(as("dispatcher"), `$KV.${KV_BUCKETS.rateLimits}.tool_x`)).toBe(true);
      expect(await publishRefused(as("dispatcher"), INTERNAL_SUBJECTS.exec("echo"))).toBe(true);
      expect(await publishRefused(as("rate-limiter"), `$KV.${KV_BUCKETS.rateLimits}.tool_x`)).toBe(false);
    });
  });

  describe("the tenants' subjects (ADR 0017)", () => {
    it("only a dispatcher serves or hands over a tenant's requests, and only it answers them", async () => {
      for (const role of ["client", "executor", "scheduler", "tool-provider"] as const)
        expect(await publishRefused(as(role), TENANT_SUBJECTS.request("acme")), role).toBe(true);
      expect(await subscribeRefused(as("tool-provider"), TENANT_SUBJECTS.requestWildcard)).toBe(true);
      expect(await subscribeRefused(as("client"), TENANT_SUBJECTS.requestWildcard)).toBe(true);
      expect(await subscribeRefused(as("dispatcher"), TENANT_SUBJECTS.requestWildcard)).toBe(false);
      // Replies to tenant accounts: no one else may send one, nor listen to them.
      expect(await publishRefused(as("executor"), "_R_.abc.def")).toBe(true);
      expect(await subscribeRefused(as("tool-provider"), "_R_.>")).toBe(true);
      expect(await publishRefused(as("dispatcher"), "_R_.abc.def")).toBe(false);
    });

    it("only the admin reaches a tenant account's JetStream", async () => {
      const deleteEvents = `${tenantJetStreamApiPrefix("acme")}.STREAM.DELETE.${STREAMS.events.name}`;
      for (const role of ["executor", "dispatcher", "client"] as const)
        expect(await publishRefused(as(role), deleteEvents), role).toBe(true);
      expect(await publishRefused(as("admin"), deleteEvents)).toBe(false);
    });
  });

  describe("a tool provider", () => {
    it("serves its own subjects but cannot listen inside the orchestrator or answer for its actors", async () => {
      expect(await subscribeRefused(as("tool-provider"), "market.lookup")).toBe(false);
      expect(await subscribeRefused(as("tool-provider"), "$SRV.INFO")).toBe(false);
      expect(await subscribeRefused(as("tool-provider"), INTERNAL_SUBJECTS.execWildcard)).toBe(true);
      expect(await subscribeRefused(as("tool-provider"), PUBLIC_SUBJECTS.request)).toBe(true);
      expect(await subscribeRefused(as("tool-provider"), INTERNAL_SUBJECTS.rateLimitAcquire)).toBe(true);
      expect(await publishRefused(as("tool-provider"), INTERNAL_SUBJECTS.result("r", "c"))).toBe(true);
    });
  });
});
