import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ACTOR_MALLOC_ENV, ACTOR_NODE_FLAGS } from "@toolformer/cli";

const CONTAINERFILE = readFileSync(new URL("../../deploy/Containerfile", import.meta.url), "utf8");

/** An actor in the image runs as one that `toolformer up` or a test starts (ADR 0031): same V8 flags, same malloc. */
describe("the image's actor settings (deploy/Containerfile)", () => {
  it("gives node the V8 flags every actor process runs with", () => {
    const entrypoint = CONTAINERFILE.split("\n").find((line) => line.startsWith("ENTRYPOINT "));
    const args = JSON.parse(entrypoint!.slice("ENTRYPOINT ".length)) as string[];
    expect(args.slice(args.indexOf("node") + 1, -1)).toEqual(ACTOR_NODE_FLAGS);
  });

  it("fills the compile cache with the same V8 flags and as the same user as the actors run (ADR 0040)", () => {
    // Node keys its compile cache by both: filled any other way, it is never read.
    const lines = CONTAINERFILE.split("\n");
    const compiling = lines.findIndex((line) => line.includes("toolformer.mjs compile-cache"));
    const command = lines[compiling]!.trim().split(/\s+/);
    expect(command.slice(command.indexOf("node") + 1, command.indexOf("packages/cli/bin/toolformer.mjs"))).toEqual(
      ACTOR_NODE_FLAGS,
    );
    const users = lines.filter((line) => line.startsWith("USER "));
    const userWhenCompiling = lines
      .slice(0, compiling)
      .filter((line) => line.startsWith("USER "))
      .at(-1);
    expect(userWhenCompiling).toBeDefined();
    expect(users.at(-1)).toBe(userWhenCompiling);
  });

  it("sets the malloc settings every actor process runs with", () => {
    const env = CONTAINERFILE.split("\n")
      .filter((line) => line.startsWith("ENV "))
      .flatMap((line) => line.slice("ENV ".length).trim().split(/\s+/))
      .map((pair) => pair.split("="));
    expect(Object.fromEntries(env)).toMatchObject(ACTOR_MALLOC_ENV);
  });
});
