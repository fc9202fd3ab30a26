import { execFileSync } from "node:child_process";
import { format, resolveConfig } from "prettier";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Report } from "./checker.ts";
import type { FaultRunConfig } from "./config.ts";
import type { Leftovers } from "./leftovers.ts";
import type { NemesisAction } from "./nemesis.ts";

/** How many items of each list the printed table shows (the JSON has them all). */
const SHOWN = 8;

function gitCommit(): string {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { encoding: "utf8" }).trim();
    return dirty ? `${commit}+dirty` : commit;
  } catch {
    return "unknown";
  }
}

/** The numbers and checks as a text table, with the first few items of each finding. */
export function formatReport(report: Report, config: FaultRunConfig, runDir: string): string {
  const width = Math.max(...Object.keys(report.numbers).map((k) => k.length));
  const lines = [
    `fault run (${config.mode}, seed ${config.seed}, commit ${gitCommit()}); everything in ${runDir}`,
    "",
    ...Object.entries(report.numbers).map(([key, value]) => `  ${key.padEnd(width)}  ${value ?? "-"}`),
    "",
    ...report.checks.map((c) => `  ${c.ok ? "PASS" : "FAIL"}  ${c.name}: ${c.detail}`),
  ];
  const list = (title: string, items: unknown[]) => {
    if (items.length === 0) return;
    lines.push("", `${title} (${items.length}):`);
    for (const item of items.slice(0, SHOWN)) lines.push(`  ${JSON.stringify(item)}`);
    if (items.length > SHOWN) lines.push(`  … ${items.length - SHOWN} more in report.json`);
  };
  list("completed with a wrong answer", report.wrongAnswers);
  list("failed", report.failed);
  list("unanswered", report.unanswered);
  list("publishes never answered, unexcused", report.unansweredPublishes);
  list(
    "calls run more than once, unexcused",
    report.reruns.filter((r) => !r.excused),
  );
  list(
    "calls sent to their tool more than once, unexcused",
    report.resent.filter((r) => !r.excused),
  );
  list(
    "model turns asked more than once, unexcused",
    report.reasked.filter((t) => !t.excused),
  );
  return lines.join("\n");
}

/** The raw observations, one JSON line each, for reading a run again (the checker's inputs). */
export function writeObservations(runDir: string, observations: Record<string, unknown[]>): void {
  for (const [name, items] of Object.entries(observations))
    writeFileSync(join(runDir, `${name}.jsonl`), items.map((item) => JSON.stringify(item)).join("\n") + "\n");
}

/** JSON as the repository's formatter writes it, so `npm run format:check` passes with results on disk. */
export async function writeJson(file: string, value: unknown): Promise<void> {
  const options = (await resolveConfig(file)) ?? {};
  writeFileSync(file, await format(JSON.stringify(value), { ...options, filepath: file }));
}

export async function writeReport(
  runDir: string,
  config: FaultRunConfig,
  report: Report,
  extra: { nemesis: NemesisAction[]; leftovers?: Leftovers | undefined },
  startedAt: number,
): Promise<string> {
  const file = join(runDir, "report.json");
  await writeJson(file, {
    measuredAt: new Date(startedAt).toISOString(),
    commit: gitCommit(),
    config,
    ...report,
    ...extra,
  });
  return file;
}
