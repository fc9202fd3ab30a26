/** The `toolformer` command as a user and a script use it: JSON lines, Ctrl-C, watch, cancel, help, exit codes. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { natsAuthToEnv } from "@toolformer/client";
import type { Scenario } from "@toolformer/fake-llm";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

const CLI = fileURLToPath(new URL("../../packages/cli/bin/toolformer.mjs", import.meta.url));
/** A model that thinks long enough to be interrupted. */
const slow: Scenario = () => ({ text: "too late", timeToFirstTokenMs: 30_000 });

interface Ran {
  code: number | null;
  out: string;
  err: string;
}

describe("the toolformer command", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({ scenarios: { slow } });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  /** Runs the CLI (never synchronously: the stack answers from this process); `onOutput` sees stdout as it comes. */
  const cli = (args: string[], onOutput?: (out: string, child: ReturnType<typeof spawn>) => void): Promise<Ran> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], {
        env: { PATH: process.env.PATH, NATS_URL: env.natsUrl, ...natsAuthToEnv(env.nats.credentials("client")) },
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        onOutput?.(out, child);
      });
      child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), 40_000);
      child.once("error", reject);
      child.once("exit", (code) => {
        clearTimeout(timer);
        resolve({ code, out, err });
      });
    });

  it("run --json prints the events and then the reply as JSON lines, and exits 0 on completed", async () => {
    const { code, out } = await cli(["run", "What is 21*2?", "--model", "fake:demo", "--json"]);
    expect(code).toBe(0);
    const lines = out
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const types = lines.flatMap((line) => (typeof line.type === "string" ? [line.type] : []));
    expect(types.filter((type) => type === "tool.started")).toHaveLength(3);
    expect(lines.at(-1)).toMatchObject({ reply: { status: "completed" } });
  }, 60_000);

  it("cancels the request on Ctrl-C, waits for its cancelled reply, and exits 130", async () => {
    let interrupted = false;
    const { code, out } = await cli(["run", "wait", "--model", "fake:slow"], (sofar, child) => {
      if (!interrupted && sofar.includes("model turn 1")) {
        interrupted = true;
        child.kill("SIGINT");
      }
    });
    expect(interrupted).toBe(true);
    expect(out).toContain("cancelled:");
    expect(code).toBe(130);
  }, 60_000);

  it("watches a request's events and cancels by id", async () => {
    const id = `cli-watch-${Date.now()}`;
    const reply = await env.client.request({ id, prompt: "What is 21*2?", model: "fake:demo" });
    expect(reply.status).toBe("completed");
    const watched = await cli(["watch", id]);
    expect(watched.code).toBe(0);
    expect(watched.out).toContain("> calculator");
    expect(watched.out).toMatch(/= completed after \d+ rounds\n$/);
    const cancelled = await cli(["cancel", "some-request"]);
    expect(cancelled).toMatchObject({ code: 0, out: "cancel sent for some-request\n" });
  }, 60_000);

  it("shows one command's help, and exits 2 on a wrong command line", async () => {
    const help = await cli(["actor", "executor", "--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("actor executor [--tools a,b]");
    expect(help.out).not.toContain("fake-llm");
    const wrong = await cli(["watch"]);
    expect(wrong.code).toBe(2);
    expect(wrong.err).toContain("watch needs one request id");
  }, 60_000);
});
