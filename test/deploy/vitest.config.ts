import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * The deploy test's own config (`npm run test:deploy`, `npm run test:deploy:quick`): the root config
 * excludes test/deploy, so `npm test` never builds images or starts pods. One file at a time, in
 * order: the global setup installs podman and builds the image the files use.
 */
export default defineConfig({
  test: {
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["test/deploy/**/*.test.ts"],
    globalSetup: ["test/deploy/global-setup.ts"],
    pool: "forks",
    maxWorkers: 1,
    fileParallelism: false,
    sequence: { shuffle: false },
    testTimeout: 60_000,
    hookTimeout: 600_000,
  },
});
