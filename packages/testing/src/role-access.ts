import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { connectionOptions, type NatsAuth } from "@toolformer/client";
import { provision, type Principal, type RoleCredentials } from "@toolformer/runtime";

/**
 * What a test server offers for each role (and each tenant's client, `{ tenant }`): its credentials,
 * a connection as it, provisioning as the admin.
 */
export interface RoleAccess {
  /** The credentials of a role or tenant client (for an actor's config or a process's NATS_NKEY). */
  credentials(who: Principal): NatsAuth;
  /** A connection as `who`; `options` add to or override the defaults (e.g. `reconnect: false`). */
  connect(who: Principal, options?: Partial<ConnectionOptions>): Promise<NatsConnection>;
}

export function roleAccess(url: string, credentials: RoleCredentials): RoleAccess {
  return {
    credentials: (who) => credentials.auth(who),
    connect: (who, options = {}) => connect({ ...connectionOptions(url, credentials.auth(who)), ...options }),
  };
}

/** Creates every stream and bucket (and the tenants' event streams) as the admin would (`toolformer provision`). */
export async function provisionAsAdmin(
  access: RoleAccess,
  replicas: number,
  tenants: readonly string[] = [],
): Promise<void> {
  const nc = await access.connect("admin");
  try {
    await provision(nc, { replicas, tenants });
  } finally {
    await nc.close();
  }
}
