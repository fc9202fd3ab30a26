/**
 * The client package as someone outside the repository gets it: built and packed (`npm pack`),
 * installed from the tarball into a scratch project, compiled against by TypeScript and run by plain
 * Node against the real stack.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { natsAuthToEnv } from "@toolformer/client";
import type { Scenario } from "@toolformer/fake-llm";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

const BUILD_SCRIPT = join(import.meta.dirname, "..", "..", "packages", "client", "scripts", "build-package.ts");
const NODE_TYPES = join(import.meta.dirname, "..", "..", "node_modules", "@types");
/** Never a synchronous child: the actors run in this process and must keep answering meanwhile. */
const run = promisify(execFile);

/** A model that thinks for a while before answering: long enough to be aborted. */
const slowScenario: Scenario = () => ({ text: "finally", timeToFirstTokenMs: 8_000 });

/** What the scratch project does with the installed package; it prints one JSON line. */
const PROGRAM = `
import { ToolformerClient, RequestAbortedError } from "@toolformer/client";

const client = await ToolformerClient.connect(process.env.NATS_URL, "scratch");
const reply = await client.request({ prompt: "What is 21*2?", model: "fake:demo" });

const streamed = [];
for await (const item of client.stream({ prompt: "What is 21*2?", model: "fake:demo" }))
  streamed.push(item.kind === "event" ? item.event.type : "reply:" + item.reply.status);

const controller = new AbortController();
setTimeout(() => controller.abort(), 500);
let aborted;
try {
  await client.request({ id: "scratch-abort-" + Date.now(), prompt: "wait", model: "fake:slow" }, { signal: controller.signal });
} catch (error) {
  aborted = { name: error.name, isAborted: error instanceof RequestAbortedError, requestId: error.requestId };
}
let endedAs;
for await (const event of client.events(aborted.requestId))
  if (event.type === "request.completed") endedAs = event.status;

await client.close();
console.log(JSON.stringify({ reply, streamed, aborted, endedAs }));
`;

/** The same in TypeScript, type-checked against the package's declarations (not run). */
const TYPED = `
import { ToolformerClient, ReplyTimeoutError, type StreamItem } from "@toolformer/client";
const client: ToolformerClient = await ToolformerClient.connect("nats://127.0.0.1:4222");
const reply = await client.request({ prompt: "hi", model: "fake:echo" }, { signal: AbortSignal.timeout(1_000) });
const status: "completed" | "failed" | "cancelled" | "timeout" | "rejected" = reply.status;
for await (const item of client.stream({ prompt: "hi", model: "fake:echo" })) {
  const kind: StreamItem["kind"] = item.kind;
  if (item.kind === "event") console.log(kind, item.event.requestId);
}
try { await client.tools(); } catch (error) { if (error instanceof ReplyTimeoutError) console.log(error.waitedMs, status); }
`;

describe("the client package, installed from its tarball outside the workspace", () => {
  let env: TestEnvironment;
  let scratch: string;

  beforeAll(async () => {
    env = await startEnvironment({ scenarios: { slow: slowScenario } });
    scratch = mkdtempSync(join(tmpdir(), "toolformer-client-scratch-"));
    const packed = await run(process.execPath, [BUILD_SCRIPT, "--pack", join(scratch, "pack")]);
    const tarball = packed.stdout.trim().split("\n").at(-1)!;
    writeFileSync(join(scratch, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module" }));
    // Its dependencies come from the npm registry (the one network these machines reach), from the cache when there.
    await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball], {
      cwd: scratch,
      timeout: 180_000,
    });
  }, 240_000);
  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it("runs a request, streams one, and cancels one through an AbortSignal", async () => {
    writeFileSync(join(scratch, "main.mjs"), PROGRAM);
    const { stdout, stderr } = await run(process.execPath, ["main.mjs"], {
      cwd: scratch,
      env: { PATH: process.env.PATH, NATS_URL: env.natsUrl, ...natsAuthToEnv(env.nats.credentials("client")) },
      timeout: 60_000,
    });
    expect(stderr).toBe("");
    const { reply, streamed, aborted, endedAs } = JSON.parse(stdout) as {
      reply: { status: string; answer: string };
      streamed: string[];
      aborted: { name: string; isAborted: boolean };
      endedAs: string;
    };
    expect(reply.status).toBe("completed");
    expect(reply.answer).toContain("42");
    expect(streamed.at(-1)).toBe("reply:completed");
    expect(streamed.filter((type) => type === "tool.started")).toHaveLength(3);
    expect(streamed).toContain("request.completed");
    expect(aborted).toMatchObject({ name: "RequestAbortedError", isAborted: true });
    expect(endedAs).toBe("cancelled");
  }, 90_000);

  it("gives TypeScript users the package's types", async () => {
    writeFileSync(join(scratch, "typed.ts"), TYPED);
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
    const flags = [
      "--noEmit",
      "--strict",
      "--target",
      "es2023",
      "--module",
      "nodenext",
      "--moduleResolution",
      "nodenext",
    ];
    // tsc prints type errors on stdout and exits non-zero, which rejects with them in the message.
    const check = await run(
      process.execPath,
      [tsc, ...flags, "--typeRoots", NODE_TYPES, "--types", "node", "typed.ts"],
      {
        cwd: scratch,
      },
    );
    expect(check.stdout + check.stderr).toBe("");
  }, 60_000);
});
