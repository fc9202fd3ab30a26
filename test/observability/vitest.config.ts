import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * `npm run docs:observability`: runs the workload against a real Prometheus for about a minute and
 * draws the Grafana dashboard's panels from its data into docs/observability/dashboard.png. Not part
 * of `npm test` (its files are `*.run.ts`): it owns the machine for a minute and needs chromium.
 */
export default defineConfig({
  test: {
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["test/observability/**/*.run.ts"],
    pool: "forks",
    maxWorkers: 1,
    testTimeout: 300_000,
    hookTimeout: 60_000,
  },
});
