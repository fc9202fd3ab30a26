import { existsSync } from "node:fs";
import { join } from "node:path";
import { hasCredentials, natsAuthFromEnv, ToolformerClient, type NatsAuth } from "@toolformer/client";
import type { Role } from "@toolformer/protocol";
import { DEFAULT_NATS_URL, seedFile } from "@toolformer/runtime";

/** Where `toolformer up` keeps the roles' nkeys for its local server. */
export function localCredentialsDir(cwd: string = process.cwd()): string {
  return join(cwd, ".toolformer", "credentials");
}

/**
 * The credentials a CLI command connects with as `role`: the environment's (NATS_CREDS, NATS_NKEY, ...)
 * when it sets any, else the role's key that `toolformer up` made here, so `toolformer run` works
 * beside a local stack with nothing to set.
 */
export function cliCredentials(role: Role, env: NodeJS.ProcessEnv = process.env): NatsAuth {
  const fromEnv = natsAuthFromEnv(env);
  if (hasCredentials(fromEnv)) return fromEnv;
  const local = seedFile(localCredentialsDir(), role);
  return existsSync(local) ? { ...fromEnv, nkeySeedFile: local } : fromEnv;
}

/** The client a CLI command uses: NATS_URL (or the local default) with the client role's credentials. */
export function connectCliClient(): Promise<ToolformerClient> {
  return ToolformerClient.connect(process.env.NATS_URL ?? DEFAULT_NATS_URL, "toolformer-cli", cliCredentials("client"));
}
