/**
 * `toolformer compile-cache` (ADR 0040): with the cache it fills, an actor started with the actors' node
 * flags finds every TypeScript module it loads already stripped of its types, so Node never loads its
 * type stripper in that process.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { ACTOR_NAMES, ACTOR_NODE_FLAGS, type ActorName } from "@toolformer/cli";
import {
  firstConnection,
  stderrUntilConnected,
  typeStripping,
  type TypeStripping,
} from "../support/compile-cache-log.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(ROOT, "packages/cli/bin/toolformer.mjs");

describe("toolformer compile-cache", () => {
  const dirs: string[] = [];
  const cacheDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "tf-compile-cache-"));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  /** Starts an actor with the actors' node flags and `cache`, until it opens its connection to NATS. */
  async function startFrom(cache: string, actor: ActorName): Promise<TypeStripping> {
    const nats = await firstConnection();
    const child = spawn(process.execPath, [...ACTOR_NODE_FLAGS, CLI, "actor", actor], {
      env: {
        ...process.env,
        NODE_COMPILE_CACHE: cache,
        NODE_DEBUG_NATIVE: "COMPILE_CACHE",
        NATS_URL: `nats://127.0.0.1:${nats.port}`,
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    return typeStripping(await stderrUntilConnected(child, nats, () => child.kill("SIGKILL")), ROOT);
  }

  it("fills the cache so that each actor, with the actors' node flags, starts without stripping a type", async () => {
    const cache = cacheDir();
    await promisify(execFile)(process.execPath, [...ACTOR_NODE_FLAGS, CLI, "compile-cache"], {
      env: { ...process.env, NODE_COMPILE_CACHE: cache },
    });
    for (const actor of ACTOR_NAMES) {
      const { cached, stripped } = await startFrom(cache, actor);
      expect({ actor, stripped }).toEqual({ actor, stripped: [] });
      expect(cached).toContain(`actors/${actor}/src/main.ts`);
    }
  });

  it("is what spares the stripping: from an empty cache an actor strips every module it loads", async () => {
    const { cached, stripped } = await startFrom(cacheDir(), "rate-limiter");
    expect(cached).toEqual([]);
    expect(stripped).toEqual(expect.arrayContaining(["packages/cli/src/main.ts", "actors/rate-limiter/src/main.ts"]));
  });
});
