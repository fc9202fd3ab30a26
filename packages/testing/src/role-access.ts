import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { connectionOptions, type NatsAuth } from "@toolformer/client";
import type { Role } from "@toolformer/protocol";
import { provision, type RoleCredentials } from "@toolformer/runtime";

/** What a test server offers for each role: its credentials, a connection as it, provisioning as the admin. */
export interface RoleAccess {
  /** The role's credentials (for an actor's config or a process's NATS_NKEY). */
  credentials(role: Role): NatsAuth;
  /** A connection as `role`; `options` add to or override the defaults (e.g. `reconnect: false`). */
  connect(role: Role, options?: Partial<ConnectionOptions>): Promise<NatsConnection>;
}

export function roleAccess(url: string, credentials: RoleCredentials): RoleAccess {
  return {
    credentials: (role) => credentials.auth(role),
    connect: (role, options = {}) => connect({ ...connectionOptions(url, credentials.auth(role)), ...options }),
  };
}

/** Creates every stream and bucket as the admin would (`toolformer provision`). */
export async function provisionAsAdmin(access: RoleAccess, replicas: number): Promise<void> {
  const nc = await access.connect("admin");
  try {
    await provision(nc, { replicas });
  } finally {
    await nc.close();
  }
}
