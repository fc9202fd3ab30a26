/**
 * Runs the tests that lean hardest on the server (permissions, JetStream clustering, elections, KV
 * compare-and-set, object store, consumers) against nats-server 2.10 (Debian trixie) and the current
 * release (Debian sid), beside the machine's own 2.9 that `npm test` uses. `--all`: the whole suite.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { debianNatsServer } from "./debian-nats-server.ts";
import { describeFailures } from "./failed-tests.ts";

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
const root = join(import.meta.dirname, "..", "..");
const cacheDir = join(root, ".toolformer", "nats-servers");
const reports = mkdtempSync(join(tmpdir(), "toolformer-test-servers-"));
const outcomes: { server: string; passed: boolean; failures: string[] }[] = [];
for (const { suite, role } of SUITES) {
  const { version, binary } = await debianNatsServer(suite, cacheDir);
  const server = `nats-server ${version} (Debian ${suite}, ${role})`;
  console.info(`\n=== ${server}: ${binary}`);
  // A JSON report beside the usual output, so the summary below can say what failed.
  const report = join(reports, `${suite}.json`);
  const reporters = ["--reporter=default", "--reporter=json", `--outputFile.json=${report}`];
  const run = spawnSync("vitest", ["run", ...reporters, ...(all ? [] : SERVER_SENSITIVE_TESTS)], {
    stdio: "inherit",
    env: { ...process.env, NATS_SERVER_BIN: binary },
  });
  const passed = run.status === 0;
  const failures = passed
    ? []
    : existsSync(report)
      ? // Six lines a failure: enough for the quorum test's backlogs, a line per durable.
        describeFailures(JSON.parse(readFileSync(report, "utf8")), root, 6)
      : ["  (vitest wrote no report: see its output above)"];
  outcomes.push({ server, passed, failures });
}
rmSync(reports, { recursive: true, force: true });
console.info("");
for (const { server, passed, failures } of outcomes) {
  console.info(`${passed ? "passed" : "FAILED"}  ${server}`);
  for (const line of failures) console.info(line);
}
if (outcomes.some((o) => !o.passed)) process.exit(1);
