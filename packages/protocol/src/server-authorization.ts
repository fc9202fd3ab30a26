/**
 * nats-server configuration text for the roles (roles.ts), so the local server, the test servers and the
 * production configs in nats/ enforce the same permissions.
 */
import { ALL_ROLES, rolePermissions, type Role } from "./roles.ts";

/** One user of a role: an nkey (its public key, `U...`) or a user name and password. */
export type RoleUser = { role: Role } & ({ nkey: string } | { user: string; password: string });

/** An `authorization { users: [...] }` block with each user's role permissions. */
export function authorizationBlock(users: readonly RoleUser[]): string {
  const entries = users.map((entry) => {
    const who = "nkey" in entry ? { nkey: entry.nkey } : { user: entry.user, password: entry.password };
    return `    ${JSON.stringify({ ...who, permissions: rolePermissions(entry.role) })}`;
  });
  return ["authorization {", "  users: [", entries.join(",\n"), "  ]", "}"].join("\n");
}

/** The variable that holds a role's permissions in nats/permissions.conf. */
export function permissionsVariable(role: Role): string {
  return `PERMISSIONS_${role.toUpperCase().replace(/-/g, "_")}`;
}

/** nats/permissions.conf: one variable per role, for production configs to `include` and reference. */
export function permissionsVariables(): string {
  return ALL_ROLES.map(
    (role) => `${permissionsVariable(role)}: ${JSON.stringify(rolePermissions(role), null, 2)}`,
  ).join("\n\n");
}
