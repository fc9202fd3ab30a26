import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createUser, fromSeed } from "@nats-io/nkeys";
import type { NatsAuth } from "@toolformer/client";
import {
  accountsBlock,
  ALL_ROLES,
  authorizationBlock,
  rolePermissions,
  TENANT_CLIENT_ROLE,
  type Role,
} from "@toolformer/protocol";

/** Who connects: a role of the orchestrator's account, or the client of a tenant account (ADR 0017). */
export type Principal = Role | { tenant: string };

/** One nkey per role (and per tenant's client) in a folder: what a local server (`toolformer up`, the tests) admits. */
export interface RoleCredentials {
  dir: string;
  /**
   * The nats-server auth configuration that admits each key with its permissions: an `authorization`
   * block (one account) or, with tenants, an `accounts` block (the orchestrator's and one per tenant).
   */
  authorization: string;
  /** How a connection of `who` authenticates: its seed file (NATS_NKEY). */
  auth(who: Principal): NatsAuth;
  /** Each role's public nkey (`U…`), what a server's `users` list names. */
  users: readonly { role: Role; nkey: string }[];
}

/** Where a role's nkey seed is kept in the folder; a tenant client's is under `tenants/`. */
export function seedFile(dir: string, who: Principal): string {
  return typeof who === "string" ? join(dir, `${who}.nk`) : join(dir, "tenants", `${who.tenant}.nk`);
}

/**
 * Makes an nkey for every role, and for the client of every tenant in `options.tenants`, in `dir`
 * (readable by the owner only), keeping the ones already there, so a local stack started again keeps
 * its keys; delete a file to rotate that key.
 */
export function ensureRoleCredentials(dir: string, options: { tenants?: readonly string[] } = {}): RoleCredentials {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const users = ALL_ROLES.map((role) => ({ role, nkey: ensureSeed(seedFile(dir, role)) }));
  const tenants = options.tenants ?? [];
  const authorization =
    tenants.length === 0
      ? authorizationBlock(users)
      : accountsBlock(
          users.map(({ role, nkey }) => ({ nkey, permissions: rolePermissions(role) })),
          tenants.map((tenant) => ({
            tenant,
            users: [
              {
                nkey: ensureSeed(seedFile(dir, { tenant })),
                permissions: rolePermissions(TENANT_CLIENT_ROLE),
              },
            ],
          })),
        );
  return { dir, authorization, auth: (who) => ({ nkeySeedFile: seedFile(dir, who) }), users };
}

/** The public key of the seed in `file`, made first if there is none. */
function ensureSeed(file: string): string {
  if (!existsSync(file)) {
    mkdirSync(join(file, ".."), { recursive: true, mode: 0o700 });
    writeFileSync(file, `${new TextDecoder().decode(createUser().getSeed())}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  return fromSeed(new TextEncoder().encode(readFileSync(file, "utf8").trim())).getPublicKey();
}
