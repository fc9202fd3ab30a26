import { readFileSync } from "node:fs";
import { ALL_ROLES, type Role } from "@toolformer/protocol";
import { ensureRoleCredentials, seedFile } from "@toolformer/runtime";

/** The Secret a role's pods mount: its nkey seed as `seed.nk` (deploy/k8s: NATS_NKEY=/etc/toolformer/nats/seed.nk). */
export const nkeySecretName = (role: Role) => `toolformer-nkey-${role}`;
/** The Secret the NATS pods read the roles' public keys from (TF_NKEY_<ROLE>, as nats/users.conf names them). */
export const NATS_USERS_SECRET = "toolformer-nats-users";
export const publicKeyVariable = (role: Role) => `TF_NKEY_${role.toUpperCase().replaceAll("-", "_")}`;

export interface RoleKey {
  role: Role;
  seed: string;
  publicKey: string;
}

function secret(name: string, namespace: string | undefined, data: Record<string, string>): string {
  const lines = [
    "apiVersion: v1",
    "kind: Secret",
    "metadata:",
    `  name: ${name}`,
    ...(namespace ? [`  namespace: ${namespace}`] : []),
    "  labels:",
    "    app.kubernetes.io/part-of: toolformer",
    "type: Opaque",
    "stringData:",
    ...Object.entries(data).map(([key, value]) => `  ${key}: ${JSON.stringify(value)}`),
  ];
  return lines.join("\n");
}

/** One Secret per role with its seed, and the servers' Secret with every public key, as YAML documents. */
export function kubernetesSecrets(keys: readonly RoleKey[], namespace?: string): string {
  const documents = [
    secret(NATS_USERS_SECRET, namespace, Object.fromEntries(keys.map((k) => [publicKeyVariable(k.role), k.publicKey]))),
    ...keys.map((k) => secret(nkeySecretName(k.role), namespace, { "seed.nk": k.seed })),
  ];
  return `${documents.join("\n---\n")}\n`;
}

/**
 * `toolformer credentials --dir DIR [--namespace NS]`: makes an nkey per role in DIR (keeping those
 * already there: delete one to rotate it) and prints the Kubernetes Secrets the manifests in deploy/k8s
 * mount, for `kubectl apply -f -`.
 */
export function runCredentialsCommand(dir: string, namespace: string | undefined): number {
  const credentials = ensureRoleCredentials(dir);
  const keys = ALL_ROLES.map((role) => ({
    role,
    seed: readFileSync(seedFile(dir, role), "utf8").trim(),
    publicKey: credentials.users.find((user) => user.role === role)?.nkey ?? "",
  }));
  process.stdout.write(kubernetesSecrets(keys, namespace));
  return 0;
}
