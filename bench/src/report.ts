import { execSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import type { Summary } from "./stats.ts";

export interface Row {
  workload: string;
  system: string;
  /** What the numbers measure, with the unit (e.g. "ms per request"). */
  metric: string;
  summary: Summary;
  /** This row's median over the orchestrator's median in the same group (1 for the orchestrator). */
  vsOrchestrator?: number;
}

const fmt = (value: number) =>
  !Number.isFinite(value)
    ? "-"
    : Math.abs(value) >= 100
      ? value.toFixed(0)
      : Math.abs(value) >= 1
        ? value.toFixed(2)
        : value.toPrecision(3);

/** A plain-text table a person can read in a terminal. */
export function renderTable(rows: readonly Row[]): string {
  const header = ["workload", "system", "metric", "median", "p99", "min-max", "n", "vs orch."];
  const body = rows.map((r) => [
    r.workload,
    r.system,
    r.metric,
    fmt(r.summary.median),
    fmt(r.summary.p99),
    `${fmt(r.summary.min)}-${fmt(r.summary.max)}`,
    String(r.summary.n),
    r.vsOrchestrator === undefined ? "" : `${fmt(r.vsOrchestrator)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((line) => line[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

const COLORS: Record<string, string> = {
  orchestrator: "#2563eb",
  "raw NATS": "#16a34a",
  "raw NATS, no call events": "#86efac",
  "raw relay + raw NATS": "#0e7490",
  "raw relay + raw NATS, no call events": "#67e8f9",
  "raw relay": "#0d9488",
  "in-process": "#9333ea",
  BullMQ: "#dc2626",
};

/**
 * A grouped horizontal bar chart (SVG, no dependencies) of the medians, one group per workload, on a
 * log scale since the systems differ by orders of magnitude.
 */
export function renderSvg(rows: readonly Row[], title: string): string {
  const groups = [...new Set(rows.map((r) => `${r.workload} (${r.metric})`))];
  const barHeight = 16;
  const labelWidth = 330;
  const plotWidth = 520;
  const positive = rows.map((r) => r.summary.median).filter((v) => v > 0);
  const lo = Math.log10(Math.min(...positive)) - 0.2;
  const hi = Math.log10(Math.max(...positive)) + 0.2;
  const x = (v: number) => (v <= 0 ? 0 : ((Math.log10(v) - lo) / (hi - lo)) * plotWidth);
  let y = 40;
  const parts: string[] = [];
  for (const group of groups) {
    parts.push(`<text x="8" y="${y + 12}" font-weight="bold">${escape(group)}</text>`);
    y += 20;
    for (const r of rows.filter((row) => `${row.workload} (${row.metric})` === group)) {
      const width = Math.max(1, x(r.summary.median));
      const color = COLORS[r.system.split(" ")[0] === "orchestrator" ? "orchestrator" : r.system] ?? "#6b7280";
      parts.push(`<text x="24" y="${y + 12}">${escape(r.system)}</text>`);
      parts.push(
        `<rect x="${labelWidth}" y="${y}" width="${width.toFixed(1)}" height="${barHeight}" fill="${color}"/>`,
      );
      parts.push(`<text x="${labelWidth + width + 6}" y="${y + 12}">${fmt(r.summary.median)}</text>`);
      y += barHeight + 4;
    }
    y += 10;
  }
  return svgDocument(labelWidth + plotWidth + 90, y + 10, title, parts);
}

function svgDocument(width: number, height: number, title: string, parts: readonly string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="8" y="20" font-size="15" font-weight="bold">${escape(title)}</text>`,
    ...parts,
    `</svg>`,
  ].join("\n");
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A plain horizontal bar chart (SVG, linear scale) of one measure per label. */
export function renderBars(items: readonly { label: string; value: number }[], title: string): string {
  const barHeight = 18;
  const labelWidth = 220;
  const plotWidth = 480;
  const most = Math.max(...items.map((item) => item.value), 1);
  const bars = items.flatMap((item, i) => {
    const y = 40 + i * (barHeight + 6);
    const width = Math.max(1, (item.value / most) * plotWidth);
    return [
      `<text x="8" y="${y + 13}">${escape(item.label)}</text>`,
      `<rect x="${labelWidth}" y="${y}" width="${width.toFixed(1)}" height="${barHeight}" fill="${COLORS.orchestrator}"/>`,
      `<text x="${labelWidth + width + 6}" y="${y + 13}">${fmt(item.value)}</text>`,
    ];
  });
  return svgDocument(labelWidth + plotWidth + 90, 50 + items.length * (barHeight + 6), title, bars);
}

/** What every benchmark result file starts with: when, how long, which commit, on what machine. */
export function runInfo(mode: string, startedAt: number) {
  return {
    mode,
    generatedAt: new Date().toISOString(),
    durationSeconds: Math.round((Date.now() - startedAt) / 1000),
    commit: execSync("git rev-parse HEAD", { encoding: "utf8" }).trim(),
    machine: { cores: cpus().length, cpuModel: cpus()[0]?.model ?? "", memoryBytes: totalmem() },
  };
}

const OUT_DIR = new URL("../../docs/benchmarks/", import.meta.url).pathname;

/** Writes docs/benchmarks/<name>.json (the figures) and <name>.svg (the chart). */
export function writeResultFiles(name: string, result: object, svg: string): void {
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(join(OUT_DIR, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(OUT_DIR, `${name}.svg`), svg);
  console.log(`wrote docs/benchmarks/${name}.json and ${name}.svg`);
}

/** Runs a benchmark and exits: 0 once it finished, 1 with the error (open handles never keep it alive). */
export function runBenchmark(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
