/**
 * The picture in docs/observability.md: the stack under the observability workload for
 * TF_PICTURE_SECONDS (default 60), scraped every second by a real Prometheus, then every panel of
 * deploy/observability/grafana-dashboard.json queried over the run and drawn (dashboard-html.ts),
 * screenshotted by Debian's chromium (headless).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startPrometheus, type Prometheus } from "@toolformer/testing";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";
import { dashboardPanels } from "../support/observability-files.ts";
import {
  runWorkload,
  warmUpSpeculation,
  WORKLOAD_ENVIRONMENT,
  type WorkloadRun,
} from "../support/observability-workload.ts";
import { dashboardHtml, legendOf, type DrawnPanel } from "./dashboard-html.ts";

const PICTURE = join(import.meta.dirname, "..", "..", "docs", "observability", "dashboard.png");
const RUN_SECONDS = Number(process.env.TF_PICTURE_SECONDS ?? 60);
/** Parallel requests each pass adds, so queues and the limiter's lines fill for a moment. */
const BURST = 20;
const CHROMIUM = [process.env.CHROMIUM_BIN, "/usr/lib/chromium/chromium", "/usr/bin/chromium"].find(
  (path) => path !== undefined && existsSync(path),
);

let env: TestEnvironment;
let prometheus: Prometheus;
beforeAll(async () => {
  if (!CHROMIUM) throw new Error("no chromium: apt-get install -y chromium, or set CHROMIUM_BIN");
  env = await startEnvironment(WORKLOAD_ENVIRONMENT);
  prometheus = await startPrometheus({
    targets: [...env.stack.metricsUrls.values()].map(({ url }) => ({ url })),
    scrapeIntervalMs: 1_000,
  });
});
afterAll(async () => {
  await prometheus?.stop();
  await env?.[Symbol.asyncDispose]();
});

it("draws every panel of the dashboard from a real run", async () => {
  const from = Date.now() / 1000;
  const workload: WorkloadRun = { answered: [], events: [] };
  await warmUpSpeculation(env, workload);
  for (let pass = 0; Date.now() / 1000 - from < RUN_SECONDS; pass++) {
    const burst = Array.from({ length: BURST }, () => env.client.request({ prompt: "Go", model: "fake:agent" }));
    await runWorkload(env, `picture-${pass}`, workload, { miss: pass % 5 === 0 });
    await Promise.all(burst);
  }
  const doneAt = Date.now();
  await prometheus.scrapedSince(doneAt + 5_000);
  const to = Date.now() / 1000;

  const panels: DrawnPanel[] = [];
  for (const panel of dashboardPanels()) {
    const series = [];
    for (const target of panel.targets) {
      const expr = target.expr.replaceAll("$__rate_interval", "10s");
      for (const found of await prometheus.queryRange(expr, from, to, 2))
        series.push({ name: legendOf(target.legendFormat, found.metric), points: found.values });
    }
    panels.push({ title: panel.title, unit: panel.fieldConfig.defaults.unit, series });
  }
  // Every panel drew something above zero: the picture shows the run, not empty frames.
  const flat = panels.filter((panel) => !panel.series.some((s) => s.points.some(([, value]) => value > 0)));
  expect(flat.map((panel) => panel.title)).toEqual([]);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1240, height: 900 } });
    await page.setContent(dashboardHtml("Async Toolformer Orchestrator", panels, from, to));
    await page.screenshot({ path: PICTURE, fullPage: true });
  } finally {
    await browser.close();
  }
});
