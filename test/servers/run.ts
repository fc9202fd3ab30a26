/**
 * Runs the tests that lean hardest on the server (permissions, JetStream clustering, elections, KV
 * compare-and-set, object store, consumers) against nats-server 2.10 (Debian trixie) and the current
 * release (Debian sid), beside the machine's own 2.9 that `npm test` uses. `--all`: the whole suite.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { debianNatsServer } from "./debian-nats-server.ts";

/** Debian suites and what they stand for. */
const SUITES = [
  { suite: "trixie", role: "2.10" },
  { suite: "sid", role: "current" },
] as const;

const SERVER_SENSITIVE_TESTS = [
  "test/integration/roles.test.ts",
  "test/integration/remote-tool-auth.test.ts",
  "test/integration/tenants.test.ts",
  "test/integration/provisioning.test.ts",
  "test/integration/nats-configs.test.ts",
  "test/integration/publish-dedupe.test.ts",
  "test/integration/lost-publish.test.ts",
  "test/integration/cluster.test.ts",
  "test/integration/shutdown-consumer.test.ts",
  "test/integration/rate-limit-precision.test.ts",
  "test/integration/start-without-quorum.test.ts",
  "test/integration/large-results.test.ts",
  "test/integration/events.test.ts",
];

const all = process.argv.includes("--all");
const cacheDir = join(import.meta.dirname, "..", "..", ".toolformer", "nats-servers");
const outcomes: { server: string; passed: boolean }[] = [];
for (const { suite, role } of SUITES) {
  const { version, binary } = await debianNatsServer(suite, cacheDir);
  const server = `nats-server ${version} (Debian ${suite}, ${role})`;
  console.info(`\n=== ${server}: ${binary}`);
  const run = spawnSync("vitest", ["run", ...(all ? [] : SERVER_SENSITIVE_TESTS)], {
    stdio: "inherit",
    env: { ...process.env, NATS_SERVER_BIN: binary },
  });
  outcomes.push({ server, passed: run.status === 0 });
}
console.info("");
for (const { server, passed } of outcomes) console.info(`${passed ? "passed" : "FAILED"}  ${server}`);
if (outcomes.some((o) => !o.passed)) process.exit(1);
