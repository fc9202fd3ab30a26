import { ToolformerClient } from "@toolformer/client";
import { startFakeLlm, type FakeLlmServer, type Scenario } from "@toolformer/fake-llm";
import { startNatsCluster, startNatsServer, type NatsCluster, type RoleAccess } from "@toolformer/testing";
import type { NatsConnection } from "@nats-io/transport-node";
import { startStack, type Stack, type StackOptions } from "./stack.ts";

export interface TestEnvironment extends AsyncDisposable {
  natsUrl: string;
  fake: FakeLlmServer;
  stack: Stack;
  /** Connected as the client role, as an application would be. */
  client: ToolformerClient;
  /** Connected as the admin, for a test to look at or stir up what no client may touch. */
  admin: NatsConnection;
  /** Connections as any role (the server's or cluster's). */
  nats: RoleAccess;
  /** The cluster's nodes (to kill and start them again), when started with `cluster: true`. */
  cluster: NatsCluster | undefined;
}

export interface EnvironmentOptions extends Omit<StackOptions, "natsUrl" | "fakeLlmUrl" | "credentials"> {
  scenarios?: Record<string, Scenario>;
  /** A 3-node JetStream cluster with R3 streams instead of one node. */
  cluster?: boolean;
  /** Tenant accounts beside the orchestrator's (ADR 0017); their clients connect with `nats.connect({ tenant })`. */
  tenants?: readonly string[];
  /** Tool names that must be in the catalog before the environment is handed over. */
  waitForTools?: string[];
}

/** A real nats-server (or cluster), the fake model server and the five actors, torn down on dispose. */
export async function startEnvironment(options: EnvironmentOptions = {}): Promise<TestEnvironment> {
  const cluster = options.cluster ? await startNatsCluster({ size: 3, tenants: options.tenants }) : undefined;
  const nats = cluster ?? (await startNatsServer({ tenants: options.tenants }));
  const fake = await startFakeLlm({ scenarios: options.scenarios ?? {} });
  const stack = await startStack({
    ...options,
    natsUrl: nats.url,
    credentials: nats.credentials,
    fakeLlmUrl: fake.url,
  });
  const client = new ToolformerClient(await nats.connect("client"));
  const admin = await nats.connect("admin");
  await waitForCatalog(client, options.waitForTools ?? ["echo"]);
  return {
    natsUrl: nats.url,
    fake,
    stack,
    client,
    admin,
    nats,
    cluster,
    async [Symbol.asyncDispose]() {
      await client.close().catch(() => undefined);
      await admin.close().catch(() => undefined);
      await stack.stop();
      await fake.close();
      await nats.stop();
    },
  };
}

/** Waits (bounded) until the dispatchers list every named tool. */
export async function waitForCatalog(client: ToolformerClient, names: string[], timeoutMs = 10_000): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const listed = new Set((await client.tools().catch(() => ({ tools: [] }))).tools.map((t) => t.name));
    if (names.every((name) => listed.has(name))) return;
    if (Date.now() > giveUpAt)
      throw new Error(`tools never appeared: ${names.filter((n) => !listed.has(n)).join(", ")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
