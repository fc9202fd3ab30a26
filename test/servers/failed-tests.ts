import { relative } from "node:path";
import { z } from "zod";

/** The part of vitest's JSON report (`--reporter=json`, Jest's shape) that says what failed. */
const VitestReport = z.object({
  testResults: z.array(
    z.object({
      name: z.string(),
      status: z.string(),
      message: z.string().optional(),
      assertionResults: z.array(
        z.object({ fullName: z.string(), status: z.string(), failureMessages: z.array(z.string()) }),
      ),
    }),
  ),
});

/** A message's first lines, up to its stack trace. */
function headOf(message: string, lines: number): string[] {
  const head: string[] = [];
  for (const line of message.split("\n")) {
    if (head.length === lines || /^\s+at /.test(line)) break;
    if (line.trim() !== "") head.push(`    ${line.trim()}`);
  }
  return head;
}

/**
 * What failed in a vitest JSON report, a few lines per failure, for the summary at the end of a long
 * run: CI keeps only the tail of its log, and the failing test's own output is far above it. A file
 * that failed with no failing test failed in a hook or its import (the report then says no more).
 * Paths are given relative to `root`.
 */
export function describeFailures(report: unknown, root: string, linesPerFailure = 2): string[] {
  const lines: string[] = [];
  for (const file of VitestReport.parse(report).testResults) {
    if (file.status !== "failed") continue;
    const path = relative(root, file.name);
    const failed = file.assertionResults.filter((test) => test.status === "failed");
    if (failed.length === 0) {
      lines.push(`  ✗ ${path}: failed outside its tests (a hook, or the file's import)`);
      lines.push(...headOf(file.message ?? "", linesPerFailure));
    }
    for (const test of failed) {
      lines.push(`  ✗ ${path} > ${test.fullName}`);
      lines.push(...headOf(test.failureMessages[0] ?? "", linesPerFailure));
    }
  }
  return lines;
}
