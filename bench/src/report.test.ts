import { describe, expect, it } from "vitest";
import { renderSvg, renderTable, type Row } from "./report.ts";

const rows: Row[] = [
  {
    workload: "overhead K=8",
    system: "orchestrator",
    metric: "ms/request",
    summary: { n: 5, median: 12.5, p99: 20, min: 10, max: 20 },
    vsOrchestrator: 1,
  },
  {
    workload: "overhead K=8",
    system: "BullMQ",
    metric: "ms/request",
    summary: { n: 5, median: 25, p99: 30, min: 22, max: 30 },
    vsOrchestrator: 2,
  },
];

describe("report", () => {
  it("prints aligned columns with the spread and the ratio", () => {
    const lines = renderTable(rows).split("\n");
    expect(lines[0]).toMatch(/^workload\s+system\s+metric\s+median\s+p99\s+min-max\s+n\s+vs orch\.$/);
    expect(lines[3]).toMatch(/BullMQ\s+ms\/request\s+25.00\s+30.00\s+22.00-30.00\s+5\s+2.00x/);
  });

  it("draws one bar per row, longer for larger medians", () => {
    const svg = renderSvg(rows, "t <&>");
    const widths = [...svg.matchAll(/<rect x="\d+" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(widths).toHaveLength(2);
    expect(widths[1]).toBeGreaterThan(widths[0] ?? 0);
    expect(svg).toContain("t &lt;&amp;&gt;");
  });
});
