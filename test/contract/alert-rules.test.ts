import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { prometheusBinary } from "@toolformer/testing";
import { OBSERVABILITY_DIR } from "../support/observability-files.ts";

const run = promisify(execFile);
/** promtool's verdict and what it printed (it exits non-zero on a failure). */
async function promtool(...args: string[]): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await run(prometheusBinary("promtool"), args, {
      cwd: OBSERVABILITY_DIR,
      timeout: 30_000,
    });
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${String(error)}\n${stdout}${stderr}` };
  }
}

describe("the shipped alerting rules (deploy/observability/alerts.yml)", () => {
  it("are valid Prometheus rules", async () => {
    const checked = await promtool("check", "rules", "alerts.yml");
    expect(checked.ok, checked.output).toBe(true);
    expect(checked.output).toMatch(/SUCCESS: 5 rules found/);
  });

  it("fire on the trouble each names and stay quiet without it (promtool's unit tests, alerts.test.yml)", async () => {
    const tested = await promtool("test", "rules", "alerts.test.yml");
    expect(tested.ok, tested.output).toBe(true);
  });
});
