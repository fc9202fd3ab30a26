import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createUser, fromSeed } from "@nats-io/nkeys";
import type { NatsAuth } from "@toolformer/client";
import { ALL_ROLES, authorizationBlock, type Role } from "@toolformer/protocol";

/** One nkey per role in a folder: what a local server (`toolformer up`, the tests) authenticates. */
export interface RoleCredentials {
  dir: string;
  /** The nats-server `authorization` block that admits each role's key with that role's permissions. */
  authorization: string;
  /** How a connection of `role` authenticates: its seed file (NATS_NKEY). */
  auth(role: Role): NatsAuth;
  /** Each role's public nkey (`U…`), what a server's `users` list names. */
  users: readonly { role: Role; nkey: string }[];
}

/** Where a role's nkey seed is kept in the folder. */
export function seedFile(dir: string, role: Role): string {
  return join(dir, `${role}.nk`);
}

/**
 * Makes an nkey for every role in `dir` (readable by the owner only), keeping the ones already there,
 * so a local stack started again keeps its keys; delete a file to rotate that role's key.
 */
export function ensureRoleCredentials(dir: string): RoleCredentials {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const users = ALL_ROLES.map((role) => {
    const file = seedFile(dir, role);
    if (!existsSync(file)) {
      writeFileSync(file, `${new TextDecoder().decode(createUser().getSeed())}\n`, { mode: 0o600 });
      chmodSync(file, 0o600);
    }
    const nkey = fromSeed(new TextEncoder().encode(readFileSync(file, "utf8").trim())).getPublicKey();
    return { role, nkey };
  });
  return {
    dir,
    authorization: authorizationBlock(users),
    auth: (role) => ({ nkeySeedFile: seedFile(dir, role) }),
    users,
  };
}
