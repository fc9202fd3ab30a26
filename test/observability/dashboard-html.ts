/**
 * The Grafana dashboard's panels drawn as a plain HTML page of SVG line charts, from Prometheus range
 * queries: what Grafana would show, for a picture in the docs where Grafana cannot run.
 */

export interface DrawnSeries {
  name: string;
  points: [number, number][];
}
export interface DrawnPanel {
  title: string;
  unit: string;
  series: DrawnSeries[];
}

const WIDTH = 380;
const HEIGHT = 170;
const COLORS = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0", "#508642"];

/** A legend like Grafana's `legendFormat`: `{{label}}` replaced by the series' label. */
export function legendOf(format: string, labels: Record<string, string>): string {
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, label: string) => labels[label] ?? "");
}

/** A value as the panel's unit shows it. */
export function formatValue(value: number, unit: string): string {
  if (unit === "percentunit") return `${(value * 100).toFixed(0)}%`;
  if (unit === "s") return value < 1 ? `${(value * 1000).toFixed(0)} ms` : `${value.toFixed(2)} s`;
  const suffix = unit === "reqps" ? " req/s" : unit === "ops" ? " /s" : "";
  return `${Math.abs(value) >= 100 ? value.toFixed(0) : Number(value.toPrecision(3))}${suffix}`;
}

const escape = (text: string) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

function chart(panel: DrawnPanel, fromSeconds: number, toSeconds: number): string {
  const values = panel.series.flatMap((s) => s.points.map(([, v]) => v)).filter(Number.isFinite);
  const top = Math.max(...values, 0) || 1;
  const x = (t: number) => ((t - fromSeconds) / (toSeconds - fromSeconds)) * WIDTH;
  const y = (v: number) => HEIGHT - (v / top) * (HEIGHT - 10);
  const lines = panel.series.map((s, i) => {
    const points = s.points
      .filter(([, v]) => Number.isFinite(v))
      .map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`);
    return `<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5" points="${points.join(" ")}"/>`;
  });
  const grid = [0.25, 0.5, 0.75, 1].map(
    (f) =>
      `<line x1="0" x2="${WIDTH}" y1="${y(top * f)}" y2="${y(top * f)}" stroke="#2c3235"/>` +
      `<text x="2" y="${y(top * f) + 11}">${escape(formatValue(top * f, panel.unit))}</text>`,
  );
  const legend = panel.series
    .slice(0, 8)
    .map((s, i) => `<span><i style="background:${COLORS[i % COLORS.length]}"></i>${escape(s.name)}</span>`);
  const empty = panel.series.length === 0 ? `<text x="${WIDTH / 2 - 30}" y="${HEIGHT / 2}">No data</text>` : "";
  return `<section><h2>${escape(panel.title)}</h2>
<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}">${grid.join("")}${lines.join("")}${empty}</svg>
<div class="legend">${legend.join("")}</div></section>`;
}

export function dashboardHtml(title: string, panels: DrawnPanel[], fromSeconds: number, toSeconds: number): string {
  const span = `${new Date(fromSeconds * 1000).toISOString().slice(11, 19)}–${new Date(toSeconds * 1000).toISOString().slice(11, 19)} UTC`;
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body { background: #111217; color: #ccccdc; font: 12px sans-serif; margin: 12px; width: ${3 * (WIDTH + 24)}px }
h1 { font-size: 16px; margin: 0 0 8px } h1 small { color: #8e8e8e; font-weight: normal }
main { display: grid; grid-template-columns: repeat(3, ${WIDTH + 16}px); gap: 8px }
section { background: #181b1f; border: 1px solid #2c3235; padding: 6px 8px }
h2 { font-size: 12px; margin: 0 0 4px; font-weight: 600 }
svg text { fill: #8e8e8e; font-size: 9px }
.legend { display: flex; flex-wrap: wrap; gap: 2px 10px; font-size: 10px; min-height: 26px }
.legend i { display: inline-block; width: 10px; height: 3px; margin-right: 4px; vertical-align: middle }
</style></head><body><h1>${escape(title)} <small>${span}, Prometheus data of a real run</small></h1>
<main>${panels.map((panel) => chart(panel, fromSeconds, toSeconds)).join("\n")}</main></body></html>`;
}
