import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * The fault suite's own config (`npm run test:faults`, `npm run test:faults:quick`): the root config
 * excludes test/faults, so `npm test` never runs it. One file at a time: a fault run owns the machine.
 */
export default defineConfig({
  test: {
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["test/faults/**/*.test.ts"],
    pool: "forks",
    maxWorkers: 1,
    fileParallelism: false,
    // The fault run sets its own, from its size (config.ts); this bounds the checker's unit tests.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
