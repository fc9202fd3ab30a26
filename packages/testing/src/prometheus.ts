import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "./ports.ts";
import { spawnTracked, stopProcess } from "./processes.ts";

export const PROMETHEUS_INSTALL_HINT =
  "Install it (Debian/Ubuntu: `apt-get install -y prometheus`, which brings promtool too), put it on PATH, " +
  "or set PROMETHEUS_BIN / PROMTOOL_BIN to its path.";
const READY_TIMEOUT_MS = 20_000;

/** Debian's prometheus package's binaries: `prometheus` (PROMETHEUS_BIN) or `promtool` (PROMTOOL_BIN). */
export function prometheusBinary(name: "prometheus" | "promtool" = "prometheus", env = process.env): string {
  const variable = name === "prometheus" ? "PROMETHEUS_BIN" : "PROMTOOL_BIN";
  const given = env[variable];
  if (given) {
    if (existsSync(given)) return given;
    throw new Error(`${variable}=${given} does not exist. ${PROMETHEUS_INSTALL_HINT}`);
  }
  const found = [...(env.PATH ?? "").split(delimiter), "/usr/bin"]
    .map((dir) => join(dir, name))
    .find((candidate) => existsSync(candidate));
  if (!found) throw new Error(`${name} not found. ${PROMETHEUS_INSTALL_HINT}`);
  return found;
}

export interface ScrapeTarget {
  /** `http://127.0.0.1:<port>/metrics` */
  url: string;
  /** Added to every series scraped from it. */
  labels?: Record<string, string>;
}

/** One series of an instant query: its labels and value. */
export interface PromSample {
  metric: Record<string, string>;
  value: number;
}
/** One series of a range query: its labels and [epoch seconds, value] points. */
export interface PromSeries {
  metric: Record<string, string>;
  values: [number, number][];
}

export interface Prometheus extends AsyncDisposable {
  url: string;
  /** An instant PromQL query, now. */
  query(expr: string): Promise<PromSample[]>;
  queryRange(expr: string, fromSeconds: number, toSeconds: number, stepSeconds: number): Promise<PromSeries[]>;
  /** Resolves once every target has been scraped after `atMs` (epoch ms), so a query sees what was there then. */
  scrapedSince(atMs: number, timeoutMs?: number): Promise<void>;
  /** The rule groups loaded, as `/api/v1/rules` lists them. */
  rules(): Promise<{ name: string; rules: { name: string; health: string; lastError?: string }[] }[]>;
  stop(): Promise<void>;
}

/**
 * A real Prometheus scraping `targets` every `scrapeIntervalMs` (and evaluating `ruleFiles` as often),
 * listening on loopback with its data in a temp dir, both gone on stop.
 */
export async function startPrometheus(options: {
  targets: ScrapeTarget[];
  ruleFiles?: string[];
  scrapeIntervalMs?: number;
}): Promise<Prometheus> {
  const binary = prometheusBinary();
  const dir = await mkdtemp(join(tmpdir(), "tf-prometheus-"));
  const interval = `${options.scrapeIntervalMs ?? 1_000}ms`;
  // YAML is a superset of JSON.
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: [
      {
        job_name: "toolformer",
        static_configs: options.targets.map((target) => {
          const url = new URL(target.url);
          return { targets: [url.host], labels: { __metrics_path__: url.pathname, ...target.labels } };
        }),
      },
    ],
  };
  await writeFile(join(dir, "prometheus.yml"), JSON.stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = spawnTracked(binary, [
    `--config.file=${join(dir, "prometheus.yml")}`,
    `--storage.tsdb.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`,
    "--log.level=warn",
  ]);
  const stop = async () => {
    await stopProcess(server.child);
    await rm(dir, { recursive: true, force: true });
  };
  const api = async <T>(path: string, params: Record<string, string>): Promise<T> => {
    const response = await fetch(`${url}${path}?${new URLSearchParams(params)}`, {
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`Prometheus ${path} ${JSON.stringify(params)}: ${body.error}`);
    return body.data;
  };
  const query = async (expr: string) =>
    (
      await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>("/api/v1/query", {
        query: expr,
      })
    ).result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));

  try {
    const giveUpAt = Date.now() + READY_TIMEOUT_MS;
    while (
      !(await fetch(`${url}/-/ready`).then(
        (r) => r.ok,
        () => false,
      ))
    ) {
      if (server.child.exitCode !== null) throw new Error(`prometheus exited: ${server.output()}`);
      if (Date.now() > giveUpAt)
        throw new Error(`prometheus not ready after ${READY_TIMEOUT_MS} ms: ${server.output()}`);
      await sleep(100);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    query,
    async queryRange(expr, fromSeconds, toSeconds, stepSeconds) {
      const data = await api<{ result: { metric: Record<string, string>; values: [number, string][] }[] }>(
        "/api/v1/query_range",
        { query: expr, start: String(fromSeconds), end: String(toSeconds), step: String(stepSeconds) },
      );
      return data.result.map((r) => ({ metric: r.metric, values: r.values.map(([t, v]) => [t, Number(v)]) }));
    },
    async scrapedSince(atMs, timeoutMs = 20_000) {
      const giveUpAt = Date.now() + timeoutMs;
      for (;;) {
        const ups = await query("timestamp(up)");
        if (ups.length === options.targets.length && ups.every((up) => up.value * 1000 > atMs)) return;
        if (Date.now() > giveUpAt)
          throw new Error(`targets not all scraped since ${atMs}: ${JSON.stringify(ups)}; ${server.output()}`);
        await sleep(200);
      }
    },
    async rules() {
      return (await api<{ groups: Awaited<ReturnType<Prometheus["rules"]>> }>("/api/v1/rules", {})).groups;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
