/** The shipped dashboard and alerting rules (deploy/observability), and the metric names their queries use. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

export const OBSERVABILITY_DIR = join(import.meta.dirname, "..", "..", "deploy", "observability");
export const ALERT_RULES_FILE = join(OBSERVABILITY_DIR, "alerts.yml");
export const DASHBOARD_FILE = join(OBSERVABILITY_DIR, "grafana-dashboard.json");

export interface DashboardPanel {
  title: string;
  fieldConfig: { defaults: { unit: string } };
  targets: { expr: string; legendFormat: string }[];
}

export function dashboardPanels(): DashboardPanel[] {
  return (JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")) as { panels: DashboardPanel[] }).panels;
}

export function alertExprs(): string[] {
  const rules = parse(readFileSync(ALERT_RULES_FILE, "utf8")) as { groups: { rules: { expr: string }[] }[] };
  return rules.groups.flatMap((group) => group.rules.map((rule) => rule.expr));
}

/**
 * The metric names a PromQL expression selects: label lists (`by (...)`, `on (...)`) and matchers
 * (`{...}`) are dropped first, so only series names remain among the identifiers.
 */
export function metricNamesIn(expr: string): string[] {
  const selectors = expr
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "")
    .replace(/\{[^}]*\}/g, "")
    .replace(/"[^"]*"/g, "");
  const names = selectors.match(/\b(?:toolformer|gen_ai|process|nodejs)_[a-z0-9_]+/g) ?? [];
  return [...new Set(names)];
}
