import { execFileSync, spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createUser } from "@nats-io/nkeys";
import {
  ALL_ROLES,
  INTERNAL_SUBJECTS,
  nkeyVariable,
  permissionsVariables,
  productionAccounts,
  TENANT_SUBJECTS,
  tenantNkeyVariable,
} from "@toolformer/protocol";
import { freePort, natsServerBinary } from "@toolformer/testing";
import { connect, nkeyAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishRefused } from "../support/denials.ts";

const NATS_DIR = fileURLToPath(new URL("../../nats/", import.meta.url));

/** nats-server 2.9 has no `sync_interval`: the line is left out there, as docs/security.md says to. */
function forServerVersion(config: string): string {
  const version = execFileSync(natsServerBinary(), ["--version"], { encoding: "utf8" });
  const [, major = 0, minor = 0] = /v(\d+)\.(\d+)/.exec(version)?.map(Number) ?? [];
  return major > 2 || (major === 2 && minor >= 10) ? config : config.replace(/^\s*sync_interval:.*$/m, "");
}

/** Connects once the server listens (it is starting); with `seed`, as that nkey. */
async function connectWithRetry(url: string, seed: string | undefined): Promise<NatsConnection> {
  const giveUpAt = Date.now() + 10_000;
  for (;;) {
    try {
      return await connect({
        servers: url,
        reconnect: false,
        ...(seed ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) } : {}),
      });
    } catch (error) {
      if (!/refused/i.test(String(error)) || Date.now() > giveUpAt) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe("the production configs in nats/", () => {
  let dir: string;
  const env: NodeJS.ProcessEnv = { ...process.env, NATS_SERVER_NAME: "nats-0" };
  const seeds = new Map<string, string>();
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "nats-configs-"));
    for (const file of ["users.conf", "permissions.conf", "accounts.conf"])
      copyFileSync(join(NATS_DIR, file), join(dir, file));
    for (const role of ALL_ROLES) {
      const user = createUser();
      env[nkeyVariable(role)] = user.getPublicKey();
      seeds.set(role, new TextDecoder().decode(user.getSeed()));
    }
    const acme = createUser();
    env[tenantNkeyVariable("acme")] = acme.getPublicKey();
    seeds.set("tenant acme", new TextDecoder().decode(acme.getSeed()));
    // A CA and certificates where the config expects them (moved to this folder).
    const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
    ssl(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-subj",
      "/CN=tf-ca",
      "-days",
      "1",
    );
    for (const name of ["server", "route"]) {
      ssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.csr`,
        "-subj",
        "/CN=nats-0",
      );
      ssl(
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        `${name}.crt`,
        "-days",
        "1",
      );
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps permissions.conf and the tenants' example accounts.conf in step with the code", () => {
    expect(readFileSync(join(NATS_DIR, "permissions.conf"), "utf8")).toContain(permissionsVariables());
    expect(readFileSync(join(NATS_DIR, "accounts.conf"), "utf8")).toContain(productionAccounts(["acme"]));
  });

  it("the cluster node config is valid: TLS for clients and routes, a user for every role", () => {
    const config = forServerVersion(readFileSync(join(NATS_DIR, "cluster.conf"), "utf8"))
      .replaceAll("/etc/nats/tls/", `${dir}/`)
      .replace("/data/jetstream", join(dir, "js"));
    expect(config).toMatch(/verify: true/);
    writeFileSync(join(dir, "cluster.conf"), config);
    const check = spawnSync(natsServerBinary(), ["-c", join(dir, "cluster.conf"), "-t"], { env, encoding: "utf8" });
    expect(check.stderr + check.stdout).toMatch(/configuration file .* (is valid|test is successful)/);
  });

  /** nats/single.conf on a free port, with its store here, including `users` (users.conf or accounts.conf). */
  const startSingle = async (users: string) => {
    const port = await freePort();
    const config = readFileSync(join(NATS_DIR, "single.conf"), "utf8")
      .replace("127.0.0.1:4222", `127.0.0.1:${port}`)
      .replace(/^http: .*$/m, "")
      .replace('".toolformer/nats"', JSON.stringify(join(dir, `dev-js-${port}`)))
      .replace("include ./users.conf", `include ./${users}`);
    writeFileSync(join(dir, `single-${port}.conf`), config);
    const server = spawn(natsServerBinary(), ["-c", join(dir, `single-${port}.conf`)], { env, stdio: "ignore" });
    return { url: `nats://127.0.0.1:${port}`, stop: () => server.kill("SIGTERM") };
  };

  it("the tenants' example runs: a tenant's client asks its own orchestrate.request, nothing of the orchestrator's", async () => {
    const server = await startSingle("accounts.conf");
    try {
      const acme = await connectWithRetry(server.url, seeds.get("tenant acme"));
      expect(await publishRefused(acme, "orchestrate.request")).toBe(false);
      expect(await publishRefused(acme, INTERNAL_SUBJECTS.exec("echo"))).toBe(true);
      expect(await publishRefused(acme, TENANT_SUBJECTS.request("acme"))).toBe(true);
      // The request arrives in the orchestrator's account under the tenant's subject.
      const dispatcher = await connectWithRetry(server.url, seeds.get("dispatcher"));
      dispatcher.subscribe(TENANT_SUBJECTS.requestWildcard, {
        callback: (_error, msg) => void msg.respond(msg.subject),
      });
      await dispatcher.flush();
      expect((await acme.request("orchestrate.request", "{}", { timeout: 5_000 })).string()).toBe(
        TENANT_SUBJECTS.request("acme"),
      );
      await acme.close();
      await dispatcher.close();
    } finally {
      server.stop();
    }
  });

  it("the development config runs with auth on: a client is refused the internal subjects", async () => {
    const server = await startSingle("users.conf");
    try {
      const url = server.url;
      await expect(connectWithRetry(url, undefined)).rejects.toThrow(/Authorization Violation/);
      const nc = await connectWithRetry(url, seeds.get("client"));
      expect(await publishRefused(nc, INTERNAL_SUBJECTS.exec("echo"))).toBe(true);
      expect(await publishRefused(nc, "orchestrate.request")).toBe(false);
      await nc.close();
    } finally {
      server.stop();
    }
  });
});
