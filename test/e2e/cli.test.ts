/**
 * The `toolformer` command as a user and a script use it: JSON lines, the live tree on a terminal,
 * Ctrl-C, watch, cancel, approve, status, help, exit codes.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { natsAuthToEnv } from "@toolformer/client";
import type { Scenario } from "@toolformer/fake-llm";
import { SERVICE_NAMES, type Role } from "@toolformer/protocol";
import { startNatsServer } from "@toolformer/testing";
import { EXAMPLE_TOOLS } from "@toolformer/tools";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";
import { quoteTools } from "../support/quote-tools.ts";
import { transferTool } from "../support/transfer-tool.ts";

const CLI = fileURLToPath(new URL("../../packages/cli/bin/toolformer.mjs", import.meta.url));
/** A model that thinks long enough to be interrupted. */
const slow: Scenario = () => ({ text: "too late", timeToFirstTokenMs: 30_000 });
const { tool: transfer, transfers } = transferTool();
const quote = quoteTools().tools.find((tool) => tool.name === "quote")!;
const turn = (toolCalls: { id: string; name: string; arguments: unknown }[]) => ({
  turns: [{ toolCalls }, { text: "done" }],
});
/** Two transfers that wait for approval, and one small enough to run at once. */
const payday = turn([
  { id: "big_a", name: "transfer", arguments: { to: "ann", amount: 500 } },
  { id: "big_b", name: "transfer", arguments: { to: "mallory", amount: 900 } },
  { id: "small", name: "transfer", arguments: { to: "cat", amount: 10 } },
]);

interface Ran {
  code: number | null;
  out: string;
  err: string;
}

describe("the toolformer command", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, transfer, quote],
      waitForTools: ["echo", "transfer", "quote"],
      scenarios: { slow, payday, quote: turn([{ id: "q", name: "quote", arguments: { symbol: "CLI" } }]) },
    });
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  /**
   * Runs the CLI (never synchronously: the stack answers from this process); `onOutput` sees stdout as
   * it comes. `options.terminal`: under a pseudo-terminal (util-linux `script`), as a user at a terminal
   * runs it; `options.role`: whose credentials (the client's by default); `options.natsUrl`: another server.
   */
  const cli = (
    args: string[],
    onOutput?: (out: string, child: ReturnType<typeof spawn>) => void,
    options: { terminal?: boolean; role?: Role; natsUrl?: string; env?: NodeJS.ProcessEnv } = {},
  ): Promise<Ran> =>
    new Promise((resolve, reject) => {
      const quoted = [process.execPath, CLI, ...args].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(" ");
      const [command, commandArgs] = options.terminal
        ? ["script", ["-qefc", quoted, "/dev/null"]]
        : [process.execPath, [CLI, ...args]];
      const child = spawn(command, commandArgs, {
        env: {
          PATH: process.env.PATH,
          NATS_URL: options.natsUrl ?? env.natsUrl,
          ...natsAuthToEnv(env.nats.credentials(options.role ?? "client")),
          ...options.env,
        },
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

  it("draws a live tree of the request on a terminal, redrawn in place, and plain lines elsewhere", async () => {
    const args = ["run", "What is 21*2?", "--model", "fake:demo"];
    const drawn = await cli(args, undefined, { terminal: true });
    expect(drawn.code).toBe(0);
    // Redrawn in place: the cursor goes back up over the tree and clears below it.
    expect(drawn.out).toMatch(/\x1b\[\d+F\x1b\[J/);
    const last = drawn.out.split(/\x1b\[\d+F\x1b\[J/).at(-1)!;
    expect(last).toMatch(/^✓ req_\S+ {2}fake:demo {2}completed/);
    expect(last).toMatch(/├─ ✓ model turn 1 .*3 calls/);
    expect(last).toMatch(/✓ calculator \[\S+\] {2}\d+ ms/);
    expect(last).toContain("answer: ");
    const plain = await cli(args);
    expect(plain.code).toBe(0);
    expect(plain.out).not.toContain("\x1b[");
    expect(plain.out).toContain("> calculator");
    // Forced on without a terminal (TOOLFORMER_TREE=1), as a wrapper that knows better may ask.
    const forced = await cli(args, undefined, { env: { TOOLFORMER_TREE: "1" } });
    expect(forced.out).toMatch(/\x1b\[\d+F\x1b\[J/);
  }, 60_000);

  it("draws the calls that wait for approval and how to decide, and approves (arguments edited) and denies them by id", async () => {
    let decisions: Promise<Ran[]> | undefined;
    let requestId = "";
    const run = await cli(
      ["run", "pay", "--model", "fake:payday", "--tools", "transfer"],
      (out) => {
        const hint = /\? decide: toolformer approve (\S+) <call-id>/.exec(out);
        if (decisions || !hint || !out.includes("? transfer [big_a]") || !out.includes("? transfer [big_b]")) return;
        requestId = hint[1]!;
        decisions = Promise.all([
          cli(["approve", requestId, "big_a", "--args", '{"to":"ann","amount":150}']),
          cli(["approve", requestId, "big_b", "--deny", "--reason", "not a supplier"]),
        ]);
      },
      { terminal: true },
    );
    expect(run.code).toBe(0);
    const [approved, denied] = await decisions!;
    expect(approved).toMatchObject({ code: 0, out: `approved big_a of ${requestId}\n` });
    expect(denied).toMatchObject({ code: 0, out: `denied big_b of ${requestId}\n` });
    const last = run.out.split(/\x1b\[\d+F\x1b\[J/).at(-1)!;
    expect(last).toMatch(/✓ transfer \[big_a\] +\d+ ms +approved, arguments edited/);
    expect(last).toMatch(
      /✗ transfer \[big_b\] +\S+ m?s +denied +failed: APPROVAL_DENIED: denied by the approver: not a supplier/,
    );
    expect(last).not.toContain("? decide");
    // The tool's own record: the approved transfer ran once, with the edited arguments; the denied one never.
    expect(transfers.filter((t) => t.callId.startsWith("big_"))).toEqual([{ callId: "big_a", to: "ann", amount: 150 }]);
    const again = await cli(["approve", requestId, "big_a"]);
    expect(again.code).toBe(4);
    expect(again.err).toContain("not applied: APPROVAL_NOT_PENDING");
  }, 60_000);

  it("watch marks a call answered from the result cache", async () => {
    await env.client.request({ prompt: "x", model: "fake:quote", tools: ["quote"] });
    const id = `cli-cached-${Date.now()}`;
    await env.client.request({ id, prompt: "x", model: "fake:quote", tools: ["quote"] });
    const watched = await cli(["watch", id]);
    expect(watched.out).toMatch(/< quote \[q\] \d+ ms \(cached\): /);
  }, 60_000);

  it("status shows the actor copies, tools, lag and scopes as the viewer, and exits 3 with no actor", async () => {
    const status = await cli(["status"], undefined, { role: "viewer" });
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/^actors\n/);
    expect(status.out).toMatch(new RegExp(`${SERVICE_NAMES.dispatcher} +1 copy `));
    expect(status.out).toMatch(/\n {2}echo +typescript +executor-/);
    expect(status.out).toMatch(/TF_REQUESTS\/dispatcher +pending \d+/);
    const json = await cli(["status", "--json"], undefined, { role: "viewer" });
    const view = JSON.parse(json.out) as { services: { name: string }[]; tools: { name: string }[] };
    expect(view.services.map((s) => s.name).sort()).toEqual(Object.values(SERVICE_NAMES).sort());
    expect(view.tools.map((t) => t.name)).toContain("echo");
    await using empty = await startNatsServer();
    const nothing = await cli(["status"], undefined, {
      natsUrl: empty.url,
      env: natsAuthToEnv(empty.credentials("viewer")),
    });
    expect(nothing.code).toBe(3);
    expect(nothing.err).toContain("no actor answers");
    const help = await cli(["status", "--help"]);
    expect(help).toMatchObject({ code: 0 });
    expect(help.out).toContain("status [--json]");
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
