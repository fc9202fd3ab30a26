import { jetstream, jetstreamManager, type StoredMsg } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { ToolformerClient } from "@toolformer/client";
import {
  eventsSubject,
  EventType,
  INTERNAL_SUBJECTS,
  RoundSubmitSchema,
  STREAMS,
  TENANT_SUBJECTS,
  tenantRequestId,
  type OrchestrateEvent,
} from "@toolformer/protocol";
import { decodeValidated } from "@toolformer/runtime";
import { startNatsCluster } from "@toolformer/testing";
import { EXAMPLE_TOOLS } from "@toolformer/tools";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishRefused } from "../support/denials.ts";
import { bigResult } from "../support/big-result.ts";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

const oneCall = (name: string, args: unknown) => ({
  turns: [{ toolCalls: [{ name, arguments: args }] }, { text: "done" }],
});

/**
 * Tenants are NATS accounts (docs/adr/0017-tenants-are-accounts.md), against a real nats-server: the
 * tenant of a request is the account it came from, each tenant reads only its own events and replies,
 * its priority is capped by its policy, and the orchestrator's own account keeps the contract as it was.
 */
describe("tenants are accounts", () => {
  let env: TestEnvironment;
  let acme: ToolformerClient;
  let globex: ToolformerClient;
  const opened: NatsConnection[] = [];
  beforeAll(async () => {
    env = await startEnvironment({
      tenants: ["acme", "globex"],
      tenantPolicies: { acme: { maxPriority: 7 }, globex: { maxPriority: 2 } },
      tools: [...EXAMPLE_TOOLS, bigResult],
      results: { spillBytes: 64 * 1024 },
      waitForTools: ["big_result", "echo", "sleep"],
      scenarios: {
        echo: oneCall("echo", { value: "hello" }),
        slow: oneCall("sleep", { ms: 20_000 }),
        big: oneCall("big_result", { mib: 0.5 }),
      },
    });
    acme = new ToolformerClient(await env.nats.connect({ tenant: "acme" }));
    globex = new ToolformerClient(await env.nats.connect({ tenant: "globex" }));
  });
  afterAll(async () => {
    for (const nc of opened) await nc.close().catch(() => undefined);
    await acme?.close().catch(() => undefined);
    await globex?.close().catch(() => undefined);
    await env?.[Symbol.asyncDispose]();
  });

  const connect = async (who: Parameters<TestEnvironment["nats"]["connect"]>[0]) => {
    const nc = await env.nats.connect(who);
    opened.push(nc);
    return nc;
  };
  /** The round the scheduler was handed for a request: the tenant and priority it really ran with. */
  const submittedRound = async (requestId: string) => {
    const jsm = await jetstreamManager(env.admin);
    const stored = await jsm.streams.getMessage(STREAMS.rounds.name, {
      last_by_subj: INTERNAL_SUBJECTS.roundSubmit(requestId),
    });
    const round = decodeValidated(stored!.data, stored!.header, RoundSubmitSchema, "msgpack");
    if (!round.ok) throw new Error(round.error.message);
    return round.value;
  };
  const eventsOf = async (client: ToolformerClient, id: string) => {
    const events: OrchestrateEvent[] = [];
    for await (const event of client.events(id)) events.push(event);
    return events;
  };
  /** Messages a connection hears on `subject` while `action` runs (then a flush more). */
  const overheard = async (nc: NatsConnection, subject: string, action: () => Promise<unknown>) => {
    const heard: string[] = [];
    const sub = nc.subscribe(subject, { callback: (_error, msg) => void heard.push(msg.subject) });
    await nc.flush();
    await action();
    await nc.flush();
    sub.unsubscribe();
    return heard;
  };

  it("runs a tenant's request as the tenant its credentials name, under an id of that tenant's", async () => {
    const id = `acme-${Date.now()}`;
    const reply = await acme.request({ id, prompt: "x", model: "fake:echo" });
    expect(reply).toMatchObject({ id, status: "completed", answer: "done" });
    expect(reply.toolCalls[0]).toMatchObject({ tool: "echo", status: "succeeded", result: "hello" });
    expect(await submittedRound(tenantRequestId("acme", id))).toMatchObject({ tenant: "acme", priority: 5 });
    // Its events, in its own account's stream, under the id it sent.
    const events = await eventsOf(acme, id);
    expect(events.map((event) => event.type)).toContain(EventType.toolCompleted);
    expect(events.at(-1)).toMatchObject({ type: EventType.requestCompleted, requestId: tenantRequestId("acme", id) });
  });

  it("refuses a body that names another tenant, and takes one that names its own", async () => {
    const claimed = await acme.request({ prompt: "x", model: "fake:echo", options: { tenant: "globex" } });
    expect(claimed.status).toBe("rejected");
    expect(claimed.error).toMatchObject({ code: "TENANT_MISMATCH", details: { tenant: "acme", requested: "globex" } });
    const own = await acme.request({
      id: `own-${Date.now()}`,
      prompt: "x",
      model: "fake:echo",
      options: { tenant: "acme" },
    });
    expect(own.status).toBe("completed");
  });

  it("keeps two tenants' same id apart: each gets its own run and its own events", async () => {
    const id = `shared-${Date.now()}`;
    const fromAcme = await acme.request({ id, prompt: "x", model: "fake:echo" });
    const fromGlobex = await globex.request({ id, prompt: "x", model: "fake:big" });
    expect(fromAcme.toolCalls.map((call) => call.tool)).toEqual(["echo"]);
    expect(fromGlobex.toolCalls.map((call) => call.tool)).toEqual(["big_result"]);
    const tools = (events: OrchestrateEvent[]) =>
      new Set(events.flatMap((event) => (event.type === EventType.toolScheduled ? [event.tool] : [])));
    expect(tools(await eventsOf(acme, id))).toEqual(new Set(["echo"]));
    expect(tools(await eventsOf(globex, id))).toEqual(new Set(["big_result"]));
  });

  it("a tenant reads no other tenant's events, replies, results or large results", async () => {
    const id = `secret-${Date.now()}`;
    const globexNc = await connect({ tenant: "globex" });
    let reply: Awaited<ReturnType<ToolformerClient["request"]>> | undefined;
    // Its client role lets globex listen on every inbox of its account: acme's reply is not among them.
    const heardByGlobex = await overheard(globexNc, "_INBOX.>", async () => {
      reply = await acme.request({ id, prompt: "x", model: "fake:big" });
    });
    expect(heardByGlobex).toEqual([]);
    const ref = reply?.toolCalls[0]?.resultRef;
    expect(ref).toMatchObject({ bucket: "tf_results" });

    // Events: globex's stream holds only globex's; acme's holds acme's, under the id acme sent.
    const subjectsIn = async (nc: NatsConnection) =>
      Object.keys(
        (await (await jetstreamManager(nc)).streams.info(STREAMS.events.name, { subjects_filter: ">" })).state
          .subjects ?? {},
      );
    expect(await subjectsIn(globexNc)).not.toContain(`orchestrate.events.${id}`);
    expect(await subjectsIn(acme.nc)).toContain(`orchestrate.events.${id}`);

    // Results and large results stay in the orchestrator's account, which no tenant reaches.
    const globexJsm = await jetstreamManager(globexNc);
    await expect(globexJsm.streams.info(STREAMS.results.name)).rejects.toThrow(/permissions violation/i);
    await expect(new Objm(globexNc).open(ref!.bucket)).rejects.toThrow(/not found/i);
    await expect(new Objm(acme.nc).open(ref!.bucket)).rejects.toThrow(/not found/i);
    // The orchestrator's own client still reads it, as before tenants.
    const store = await new Objm(await connect("client")).open(ref!.bucket);
    expect((await store.info(ref!.name))?.size).toBe(ref!.bytes);
  });

  it("a tenant cancels its own request, and cannot cancel another tenant's", async () => {
    const id = `cancel-${Date.now()}`;
    const running = acme.request({ id, prompt: "x", model: "fake:slow" });
    for await (const event of acme.events(id)) if (event.type === EventType.toolStarted) break;
    // Globex's cancel of the same id is its own request's (none), not acme's.
    await globex.cancel(id);
    const afterGlobex = await Promise.race([
      running.then(() => "finished"),
      new Promise((resolve) => setTimeout(() => resolve("running"), 1_000)),
    ]);
    expect(afterGlobex).toBe("running");
    await acme.cancel(id);
    expect((await running).status).toBe("cancelled");
    expect((await eventsOf(acme, id)).at(-1)).toMatchObject({ type: EventType.requestCompleted, status: "cancelled" });
  }, 30_000);

  it("caps a tenant's priority at its policy: above it is refused, without one it runs within it", async () => {
    const above = await acme.request({ prompt: "x", model: "fake:echo", options: { priority: 8 } });
    expect(above.status).toBe("rejected");
    expect(above.error).toMatchObject({
      code: "PRIORITY_NOT_ALLOWED",
      details: { tenant: "acme", priority: 8, maxPriority: 7 },
    });
    const atCap = `cap-${Date.now()}`;
    expect((await acme.request({ id: atCap, prompt: "x", model: "fake:echo", options: { priority: 7 } })).status).toBe(
      "completed",
    );
    expect(await submittedRound(tenantRequestId("acme", atCap))).toMatchObject({ priority: 7 });
    // globex may ask for 2 at most, and asking nothing runs it at 2, not at the default 5.
    const unasked = `unasked-${Date.now()}`;
    expect((await globex.request({ id: unasked, prompt: "x", model: "fake:echo" })).status).toBe("completed");
    expect(await submittedRound(tenantRequestId("globex", unasked))).toMatchObject({ tenant: "globex", priority: 2 });
    expect((await globex.request({ prompt: "x", model: "fake:echo", options: { priority: 3 } })).error?.code).toBe(
      "PRIORITY_NOT_ALLOWED",
    );
  });

  it("keeps orchestrate.request in the orchestrator's own account as it was: body tenant, any priority", async () => {
    const id = `single-${Date.now()}`;
    const reply = await env.client.request({
      id,
      prompt: "x",
      model: "fake:echo",
      options: { tenant: "globex", priority: 9 },
    });
    expect(reply).toMatchObject({ id, status: "completed" });
    expect(await submittedRound(id)).toMatchObject({ tenant: "globex", priority: 9 });
    const events = await eventsOf(env.client, id);
    expect(events.every((event) => event.requestId === id)).toBe(true);
    expect((await env.client.tools()).tools.map((tool) => tool.name)).toContain("echo");
    expect((await acme.tools()).tools.map((tool) => tool.name)).toContain("echo");
  });

  it("no one in the orchestrator's account but the dispatchers may speak for a tenant", async () => {
    for (const role of ["client", "executor", "tool-provider", "scheduler"] as const)
      expect(await publishRefused(await connect(role), TENANT_SUBJECTS.request("acme")), role).toBe(true);
    expect(await publishRefused(await connect("dispatcher"), TENANT_SUBJECTS.request("acme"))).toBe(false);
  });

  it("a tenant's JetStream is the admin's to change, not its client's", async () => {
    const acmeJsm = await jetstreamManager(acme.nc);
    await expect(acmeJsm.streams.delete(STREAMS.events.name)).rejects.toThrow(/permissions violation/i);
    await expect(acmeJsm.streams.add({ name: "ROGUE", subjects: ["rogue.>"] })).rejects.toThrow(
      /permissions violation/i,
    );
  });
});

describe("tenant accounts on a 3-node cluster", () => {
  it("a reply from another node, later, reaches the tenant; its events reach its replicated stream", async () => {
    await using cluster = await startNatsCluster({ size: 3, tenants: ["acme"] });
    const acme = await cluster.connect({ tenant: "acme" }, { servers: cluster.urls[0] });
    const dispatcher = await cluster.connect("dispatcher", { servers: cluster.urls[2] });
    try {
      dispatcher.subscribe(TENANT_SUBJECTS.requestWildcard, {
        callback: (_error, msg) => void setTimeout(() => msg.respond(msg.subject), 1_000),
      });
      await dispatcher.flush();
      // The subscription's interest crosses the routes first.
      let reply: string | undefined;
      for (const giveUpAt = Date.now() + 10_000; reply === undefined;) {
        reply = await acme.request("orchestrate.request", "{}", { timeout: 5_000 }).then(
          (msg) => msg.string(),
          (error: unknown) => {
            if (Date.now() > giveUpAt) throw error;
            return undefined;
          },
        );
      }
      expect(reply).toBe(TENANT_SUBJECTS.request("acme"));

      await jetstream(dispatcher).publish(eventsSubject(tenantRequestId("acme", "on-cluster")), "{}");
      const jsm = await jetstreamManager(acme);
      // The import carries it on after the orchestrator's stream stored it: wait for acme's copy.
      let stored: StoredMsg | null = null;
      for (const giveUpAt = Date.now() + 10_000; !stored && Date.now() < giveUpAt;) {
        stored = await jsm.streams
          .getMessage(STREAMS.events.name, { last_by_subj: "orchestrate.events.on-cluster" })
          .catch(() => null);
        if (!stored) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(stored?.subject).toBe("orchestrate.events.on-cluster");
      expect((await jsm.streams.info(STREAMS.events.name)).config.num_replicas).toBe(3);
    } finally {
      await acme.close();
      await dispatcher.close();
    }
  }, 60_000);
});
