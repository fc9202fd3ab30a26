import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { workspaceModules } from "./compile-cache.ts";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

describe("workspaceModules", () => {
  it("lists the sources of the CLI and of every workspace it runs, lazily loaded ones too, and no tests", () => {
    const modules = workspaceModules(ROOT).map((file) => relative(ROOT, file));
    expect(modules).toEqual(
      expect.arrayContaining([
        "packages/cli/src/main.ts",
        "packages/cli/src/commands/compile-cache.ts",
        "actors/dispatcher/src/main.ts",
        "actors/executor/src/worker-main.ts",
        "actors/executor/src/mcp-tools.ts",
        "packages/providers/src/openai.ts",
        "packages/protocol/src/index.ts",
      ]),
    );
    expect(modules.filter((file) => file.endsWith(".test.ts"))).toEqual([]);
    // Only test code depends on the testing workspace; an image does not install what it needs.
    expect(modules.filter((file) => file.startsWith("packages/testing/"))).toEqual([]);
  });
});
