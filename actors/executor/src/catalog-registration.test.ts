import { errors, type NatsConnection } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeValidated, provision } from "@toolformer/runtime";
import { toolRegistrationKey, ToolRegistrationSchema, type ToolDefinition } from "@toolformer/protocol";
import { startNatsServer, type NatsServer } from "@toolformer/testing";
import { CatalogRegistration } from "./catalog-registration.ts";

let nats: NatsServer;
let nc: NatsConnection;
let tools: KV;

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await nats.connect("admin");
  const provisioned = await provision(nc, { replicas: 1 });
  tools = provisioned.kv.tools!;
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

/** The bucket, but its first write goes unanswered (as one lost with a dying node's leader does). */
function losingFirstPut(kv: KV): KV {
  let lost = false;
  const lossy = Object.create(kv) as KV;
  lossy.put = (...args) => {
    if (lost) return kv.put(...args);
    lost = true;
    return Promise.reject(new errors.TimeoutError());
  };
  return lossy;
}

const lookup: ToolDefinition = {
  name: "lookup",
  description: "",
  parameters: {},
  readOnly: true,
  idempotent: true,
  source: "typescript",
};
const log = { info: () => {}, warn: () => {}, child: () => log } as never;

describe("an executor's catalog registration", () => {
  it("hosts a tool although the first write of its entry went unanswered", async () => {
    const registration = new CatalogRegistration(losingFirstPut(tools), "executor-1", 4, log);
    await registration.add(lookup);
    const entry = await tools.get(toolRegistrationKey("lookup", "executor-1"));
    const stored = decodeValidated(entry!.value, undefined, ToolRegistrationSchema, "msgpack");
    expect(stored.ok && stored.value).toMatchObject({
      definition: lookup,
      executorId: "executor-1",
      capacity: 4,
    });
  });
});
