import { describe, expect, it } from "vitest";
import { describeFailures } from "./failed-tests.ts";

// Trimmed from a real report of `vitest run --reporter=json`: one file with a passing, a failing and a
// skipped test, one whose hook threw (its tests skipped, no message), one that passed.
const REPORT = {
  numFailedTests: 1,
  testResults: [
    {
      name: "/repo/test/integration/a.test.ts",
      status: "failed",
      message: "",
      assertionResults: [
        { fullName: "group passes", status: "passed", failureMessages: [] },
        {
          fullName: "group fails",
          status: "failed",
          failureMessages: [
            "AssertionError: expected 1 to be 2 // Object.is equality\n\n- Expected\n+ Received\n    at /repo/test/integration/a.test.ts:4:31",
          ],
        },
        { fullName: "group later", status: "skipped", failureMessages: [] },
      ],
    },
    {
      name: "/repo/test/integration/b.test.ts",
      status: "failed",
      message: "",
      assertionResults: [{ fullName: "hook never runs", status: "skipped", failureMessages: [] }],
    },
    {
      name: "/repo/test/integration/c.test.ts",
      status: "passed",
      message: "",
      assertionResults: [{ fullName: "c works", status: "passed", failureMessages: [] }],
    },
  ],
};

describe("describeFailures", () => {
  it("names each failed test with its message's first lines, and a file that failed outside its tests", () => {
    expect(describeFailures(REPORT, "/repo")).toEqual([
      "  ✗ test/integration/a.test.ts > group fails",
      "    AssertionError: expected 1 to be 2 // Object.is equality",
      "    - Expected",
      "  ✗ test/integration/b.test.ts: failed outside its tests (a hook, or the file's import)",
    ]);
  });

  it("stops a message at its stack trace", () => {
    const report = structuredClone(REPORT);
    report.testResults[0]!.assertionResults[1]!.failureMessages = ["Error: boom\n    at somewhere (x.ts:1:1)"];
    expect(describeFailures(report, "/repo", 5).slice(0, 2)).toEqual([
      "  ✗ test/integration/a.test.ts > group fails",
      "    Error: boom",
    ]);
  });

  it("says nothing when every file passed, and refuses what is not a report", () => {
    expect(describeFailures({ testResults: [REPORT.testResults[2]] }, "/repo")).toEqual([]);
    expect(() => describeFailures({ tests: [] }, "/repo")).toThrow();
  });
});
