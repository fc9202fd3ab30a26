/**
 * nats-server configuration text for the roles (roles.ts) and the tenant accounts (ADR 0017), so the
 * local server, the test servers and the production configs in nats/ enforce the same permissions.
 */
import { TENANT_PATTERN } from "./ids.ts";
import { MAX_TIMEOUT_MS } from "./messages/request.ts";
import { ALL_ROLES, ROLES, rolePermissions, type Role } from "./roles.ts";
import {
  APPROVE_WILDCARD,
  CANCEL_WILDCARD,
  EVENTS_WILDCARD,
  PUBLIC_SUBJECTS,
  REPLAY_WILDCARD,
  TENANT_SUBJECTS,
  tenantJetStreamApiPrefix,
} from "./subjects.ts";

/** One user of a role: an nkey (its public key, `U...`) or a user name and password. */
export type RoleUser = { role: Role } & ({ nkey: string } | { user: string; password: string });

/** The account the orchestrator's roles live in when there are tenant accounts. */
export const ORCHESTRATOR_ACCOUNT = "TOOLFORMER";

/**
 * How long the server keeps the way back from the orchestrator to a tenant's inbox (a service export's
 * `response_threshold`): the longest request, and the wait of a repeated id after it, with room to spare.
 */
export const TENANT_RESPONSE_THRESHOLD_MS = MAX_TIMEOUT_MS + 10 * 60_000;

/** A value written into the config as `$NAME`: a variable of an included file or of the environment. */
export class ConfigVariable {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
}
type ConfigValue = string | number | boolean | ConfigVariable | ConfigValue[] | { [key: string]: ConfigValue };

/** A user as the config lists it: its nkey (`U...`, or a variable) and its permissions (or a variable). */
export interface ConfigUser {
  nkey: string | ConfigVariable;
  permissions: ConfigValue;
}

/** A tenant account and the users of its client: each has the client role's permissions in that account. */
export interface TenantAccount {
  tenant: string;
  users: ConfigUser[];
}

/** An `authorization { users: [...] }` block with each user's role permissions (one account, no tenants). */
export function authorizationBlock(users: readonly RoleUser[]): string {
  const entries = users.map((entry) => {
    const who = "nkey" in entry ? { nkey: entry.nkey } : { user: entry.user, password: entry.password };
    return `    ${JSON.stringify({ ...who, permissions: rolePermissions(entry.role) })}`;
  });
  return ["authorization {", "  users: [", entries.join(",\n"), "  ]", "}"].join("\n");
}

/**
 * An `accounts { ... }` block: the orchestrator's account (`ORCHESTRATOR_ACCOUNT`) with the roles' users,
 * and one account per tenant. A tenant account imports `orchestrate.request` as its own
 * `TENANT_SUBJECTS.request(tenant)`, `orchestrate.tools`, its cancels, its approvals, its replays and its events (kept in its own
 * `TF_EVENTS` stream); it exports its JetStream API to the orchestrator's account, where only the admin
 * may use it (`tenantJetStreamApiPrefix`), to provision that stream. Nothing else crosses.
 */
export function accountsBlock(orchestratorUsers: readonly ConfigUser[], tenants: readonly TenantAccount[]): string {
  // An export with no account listed would be public: without tenants, use `authorizationBlock`.
  if (tenants.length === 0) throw new Error("an accounts block needs at least one tenant");
  for (const { tenant } of tenants) {
    if (!TENANT_PATTERN.test(tenant) || tenant === ORCHESTRATOR_ACCOUNT)
      throw new Error(
        `tenant ${JSON.stringify(tenant)} must match ${TENANT_PATTERN} and not be ${ORCHESTRATOR_ACCOUNT}`,
      );
  }
  const names = tenants.map(({ tenant }) => tenant);
  const exports: ConfigValue[] = [
    { service: PUBLIC_SUBJECTS.tools, accounts: names },
    ...names.flatMap((tenant): ConfigValue[] => [
      {
        service: TENANT_SUBJECTS.request(tenant),
        accounts: [tenant],
        response_threshold: `${TENANT_RESPONSE_THRESHOLD_MS / 1000}s`,
      },
      { service: TENANT_SUBJECTS.cancelOf(tenant), accounts: [tenant] },
      { service: TENANT_SUBJECTS.approveOf(tenant), accounts: [tenant] },
      // A replay is answered when it has run, which may take as long as a request.
      {
        service: TENANT_SUBJECTS.replayOf(tenant),
        accounts: [tenant],
        response_threshold: `${TENANT_RESPONSE_THRESHOLD_MS / 1000}s`,
      },
      { stream: TENANT_SUBJECTS.eventsOf(tenant), accounts: [tenant] },
    ]),
  ];
  const orchestrator: ConfigValue = {
    jetstream: true,
    users: orchestratorUsers.map(userValue),
    exports,
    imports: names.map((tenant) => ({
      service: { account: tenant, subject: "$JS.API.>" },
      to: `${tenantJetStreamApiPrefix(tenant)}.>`,
    })),
  };
  const tenantAccount = ({ tenant, users }: TenantAccount): ConfigValue => ({
    jetstream: true,
    users: users.map(userValue),
    exports: [{ service: "$JS.API.>", accounts: [ORCHESTRATOR_ACCOUNT] }],
    imports: [
      {
        service: { account: ORCHESTRATOR_ACCOUNT, subject: TENANT_SUBJECTS.request(tenant) },
        to: PUBLIC_SUBJECTS.request,
      },
      { service: { account: ORCHESTRATOR_ACCOUNT, subject: PUBLIC_SUBJECTS.tools } },
      { service: { account: ORCHESTRATOR_ACCOUNT, subject: TENANT_SUBJECTS.cancelOf(tenant) }, to: CANCEL_WILDCARD },
      { service: { account: ORCHESTRATOR_ACCOUNT, subject: TENANT_SUBJECTS.approveOf(tenant) }, to: APPROVE_WILDCARD },
      { service: { account: ORCHESTRATOR_ACCOUNT, subject: TENANT_SUBJECTS.replayOf(tenant) }, to: REPLAY_WILDCARD },
      { stream: { account: ORCHESTRATOR_ACCOUNT, subject: TENANT_SUBJECTS.eventsOf(tenant) }, to: EVENTS_WILDCARD },
    ],
  });
  const accounts: Record<string, ConfigValue> = { [ORCHESTRATOR_ACCOUNT]: orchestrator };
  for (const tenant of tenants) accounts[tenant.tenant] = tenantAccount(tenant);
  return `accounts ${render(accounts, "")}`;
}

/** The permissions a tenant account's client has there: the client role's. */
export const TENANT_CLIENT_ROLE = ROLES.client;

function userValue(user: ConfigUser): ConfigValue {
  return { nkey: user.nkey, permissions: user.permissions };
}

/** nats-server config syntax; what fits on a line (LINE_WIDTH) is written on one. */
function render(value: ConfigValue, indent: string): string {
  if (value instanceof ConfigVariable) return `$${value.name}`;
  if (typeof value !== "object") return JSON.stringify(value);
  const items = Array.isArray(value)
    ? value.map((item) => ["", item] as const)
    : Object.entries(value).map(([key, item]) => [`${renderKey(key)}: `, item] as const);
  const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  if (items.length === 0) return `${open}${close}`;
  const inline = `${open} ${items.map(([key, item]) => key + render(item, "")).join(", ")} ${close}`;
  if (!inline.includes("\n") && indent.length + inline.length <= LINE_WIDTH) return inline;
  const inner = `${indent}  `;
  return `${open}\n${items.map(([key, item]) => `${inner}${key}${render(item, inner)}`).join("\n")}\n${indent}${close}`;
}
const LINE_WIDTH = 110;

/** Keys as the config parser takes them: bare when plain, quoted otherwise (`$G`-like names). */
function renderKey(key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : JSON.stringify(key);
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

/** The environment variable of a role's public nkey in the production configs (`TF_NKEY_ADMIN`, ...). */
export function nkeyVariable(role: Role): string {
  return `TF_NKEY_${role.toUpperCase().replace(/-/g, "_")}`;
}

/** The environment variable of a tenant client's public nkey in the production configs. */
export function tenantNkeyVariable(tenant: string): string {
  return `TF_NKEY_TENANT_${tenant.toUpperCase().replace(/-/g, "_")}`;
}

/**
 * The production accounts config (nats/accounts.conf) for `tenants`: every user's nkey comes from the
 * environment, every user's permissions from nats/permissions.conf.
 */
export function productionAccounts(tenants: readonly string[]): string {
  return accountsBlock(
    ALL_ROLES.map((role) => ({
      nkey: new ConfigVariable(nkeyVariable(role)),
      permissions: new ConfigVariable(permissionsVariable(role)),
    })),
    tenants.map((tenant) => ({
      tenant,
      users: [
        {
          nkey: new ConfigVariable(tenantNkeyVariable(tenant)),
          permissions: new ConfigVariable(permissionsVariable(TENANT_CLIENT_ROLE)),
        },
      ],
    })),
  );
}
