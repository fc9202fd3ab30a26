import { connect } from "@nats-io/transport-node";
import { connectionOptions } from "@toolformer/client";
import { KV_BUCKETS, kvStreamName, OBJECT_STORES, STREAMS, TENANT_PATTERN } from "@toolformer/protocol";
import { DEFAULT_NATS_URL, parseConfig, parseJsonSetting, provision, StorageLimitsSchema } from "@toolformer/runtime";
import { z } from "zod";
import { cliCredentials } from "../local-credentials.ts";

const ProvisionConfigSchema = z.object({
  natsUrl: z.string().min(1).default(DEFAULT_NATS_URL),
  /** Replicas of every stream and bucket: 1 on one node, 3 on a cluster. */
  replicas: z.coerce.number().int().min(1).max(5).default(1),
  limits: StorageLimitsSchema.default({ streams: {}, buckets: {}, objectStores: {} }),
  /** Tenant accounts (TF_TENANTS, comma-separated) whose event streams to provision too (ADR 0017). */
  tenants: z.array(z.string().regex(TENANT_PATTERN)).default([]),
});

/**
 * Creates every stream, bucket and object store with the admin role's credentials (or brings them up to
 * date): the step before any actor starts, since actors may not create or change them.
 */
export async function runProvisionCommand(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const config = parseConfig(ProvisionConfigSchema, {
    natsUrl: env.NATS_URL,
    replicas: env.TF_REPLICAS,
    limits: env.TF_STORAGE_LIMITS ? parseJsonSetting(env.TF_STORAGE_LIMITS, "TF_STORAGE_LIMITS") : undefined,
    tenants: env.TF_TENANTS?.split(",").filter((tenant) => tenant !== ""),
  });
  const nc = await connect({
    ...connectionOptions(config.natsUrl, cliCredentials("admin", env)),
    name: "toolformer-provision",
  });
  try {
    await provision(nc, { replicas: config.replicas, limits: config.limits, tenants: config.tenants });
  } finally {
    await nc.close();
  }
  const made = [
    ...Object.values(STREAMS).map((stream) => stream.name),
    ...Object.values(KV_BUCKETS).map(kvStreamName),
    ...Object.values(OBJECT_STORES).map((store) => `OBJ_${store}`),
  ];
  const tenants = config.tenants.map((tenant) => `${tenant}:${STREAMS.events.name}`);
  console.log(`provisioned ${[...made, ...tenants].join(" ")} (replicas ${config.replicas}) on ${config.natsUrl}`);
  return 0;
}
