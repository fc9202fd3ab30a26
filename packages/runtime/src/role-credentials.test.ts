import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ALL_ROLES } from "@toolformer/protocol";
import { ensureRoleCredentials, seedFile } from "./role-credentials.ts";

describe("ensureRoleCredentials", () => {
  const dirs: string[] = [];
  const folder = () => {
    const dir = join(mkdtempSync(join(tmpdir(), "role-credentials-")), "credentials");
    dirs.push(dir);
    return dir;
  };
  afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it("makes a seed per role that only its owner can read, and admits each public key once", () => {
    const dir = folder();
    const made = ensureRoleCredentials(dir);
    for (const role of ALL_ROLES) {
      const file = seedFile(dir, role);
      expect(readFileSync(file, "utf8")).toMatch(/^SU[A-Z2-7]+\n$/);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(made.auth(role)).toEqual({ nkeySeedFile: file });
    }
    expect(made.authorization.match(/"nkey":"U[A-Z2-7]+"/g)).toHaveLength(ALL_ROLES.length);
  });

  it("keeps the keys when run again, and makes a new one for a role whose file was deleted (rotation)", () => {
    const dir = folder();
    const first = ensureRoleCredentials(dir).authorization;
    expect(ensureRoleCredentials(dir).authorization).toBe(first);
    rmSync(seedFile(dir, "client"));
    const rotated = ensureRoleCredentials(dir).authorization;
    const keys = (text: string) => new Set(text.match(/"nkey":"U[A-Z2-7]+"/g));
    const changed = [...keys(rotated)].filter((key) => !keys(first).has(key));
    expect(changed).toHaveLength(1);
  });

  it("with tenants, admits every role in the orchestrator's account and each tenant's client in its own", () => {
    const dir = folder();
    const made = ensureRoleCredentials(dir, { tenants: ["acme", "globex"] });
    for (const tenant of ["acme", "globex"]) {
      const file = seedFile(dir, { tenant });
      expect(readFileSync(file, "utf8")).toMatch(/^SU[A-Z2-7]+\n$/);
      expect(made.auth({ tenant })).toEqual({ nkeySeedFile: file });
    }
    expect(made.authorization).toMatch(/^accounts \{\n {2}TOOLFORMER: \{/);
    expect(made.authorization).toMatch(/\n {2}acme: \{/);
    expect(made.authorization.match(/nkey: "U[A-Z2-7]+"/g)).toHaveLength(ALL_ROLES.length + 2);
    // The roles keep their keys when tenants come.
    const roleKeys = (text: string) => new Set(text.match(/"?nkey"?: ?"U[A-Z2-7]+"/g)?.map((k) => k.slice(-57)));
    const before = roleKeys(ensureRoleCredentials(dir).authorization);
    expect([...before].every((key) => roleKeys(made.authorization).has(key))).toBe(true);
  });
});
