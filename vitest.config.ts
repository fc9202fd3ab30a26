import { defineConfig } from "vitest/config";

/**
 * Files whose assertions are about time on a shared 2-core machine (a limit used to 95%, one call's
 * latency beside a CPU burn or a flood, a backlog lined up behind a running call): they run last, one at a time,
 * so no other test's load skews them.
 */
const TIMED = [
  "test/integration/rate-limit-precision.test.ts",
  "test/integration/worker-pool.test.ts",
  "test/integration/priorities.test.ts",
  "test/integration/shutdown-rate-limiter.test.ts",
  // Its flood owns both cores for seconds, and its ratio is a latency beside that flood.
  "test/integration/edge-limits.test.ts",
  // A request within its deadline once a cluster that lost its quorum is back. Beside the other files
  // the actors' start took up to 59 s, and in npm test the request once timed out with every stream
  // and consumer led again; run apart (or beside copies of itself and a CPU burner) it passed 22 of 22.
  "test/integration/start-without-quorum.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["packages/*/src/**/*.test.ts", "actors/*/src/**/*.test.ts", "bench/src/**/*.test.ts"],
          // The pure logic's files share their workers' module cache: each of the ~100 files then costs
          // its tests, not a fresh process and its imports again (about 12 s in all instead of 42).
          // They pass in any order (--sequence.shuffle); a test that needs a clean module graph
          // belongs under test/.
          isolate: false,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: "suite",
          include: ["test/**/*.test.ts"],
          // test/faults, test/browser and test/deploy have their own configs (npm run test:faults,
          // test:browser, test:deploy): a fault run owns the machine for minutes, a browser run needs
          // chromium, a deploy run builds an image and starts pods.
          exclude: [...TIMED, "test/faults/**", "test/browser/**", "test/deploy/**"],
          // Integration files start their own nats-server processes and mostly wait on them: two at a time
          // kept the 2-core machine about half busy (7.1 min of CPU in 7.2 min), three at a time two thirds
          // (7.9 in 6.1). Files whose assertions are about time run apart (TIMED).
          maxWorkers: 3,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: { name: "timed", include: TIMED, maxWorkers: 1, sequence: { groupOrder: 2 } },
      },
    ],
  },
});
