import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * The browser suite's own config (`npm run test:browser`): the root config excludes test/browser, so
 * `npm test` never needs a browser. It drives Debian's chromium (headless) against the real stack.
 */
export default defineConfig({
  test: {
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["test/browser/**/*.test.ts"],
    pool: "forks",
    maxWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 90_000,
  },
});
