import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { connect } from "@nats-io/transport-node";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it, vi } from "vitest";
import { connectionOptions } from "@toolformer/client";
import { PUBLIC_SUBJECTS } from "@toolformer/protocol";
import { freePort, isAlive } from "@toolformer/testing";

/**
 * A copy looks for its parent every second, then stops as on SIGTERM, within 5 s even though its server
 * is gone too (the kernel sends the server SIGTERM when `up` dies); a margin for a loaded machine.
 */
const ORPHAN_EXIT_MS = 20_000;

const CLI = fileURLToPath(new URL("../../packages/cli/bin/toolformer.mjs", import.meta.url));

/** `toolformer up` with `args` in a fresh folder, on a free port, without a model provider's key. */
async function startUp(args: string[], readyLine: string) {
  const cwd = mkdtempSync(join(tmpdir(), "toolformer-up-"));
  const env = { ...process.env };
  delete env.NATS_URL;
  delete env.OPENAI_API_KEY;
  delete env.ANTHROPIC_API_KEY;
  const natsPort = await freePort();
  const child = spawn(process.execPath, [CLI, "up", "--nats-port", String(natsPort), ...args], {
    cwd,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const up = {
    cwd,
    env,
    natsPort,
    child,
    output: () => output,
    cleanUp() {
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(cwd, { recursive: true, force: true });
    },
  };
  const giveUpAt = Date.now() + 60_000;
  while (!output.includes(readyLine)) {
    if (child.exitCode !== null || Date.now() > giveUpAt) {
      up.cleanUp();
      throw new Error(`up did not get ready:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return up;
}

describe("toolformer up (the README's first command)", () => {
  it("starts nats-server and every actor as processes, answers the demo request, and stops cleanly on Ctrl-C", async () => {
    const { cwd, env, natsPort, child, output: outputNow, cleanUp } = await startUp([], "serving; try");
    const output = outputNow();
    try {
      expect(output).toMatch(/^ready nats=nats:\/\/127\.0\.0\.1:\d+ model=fake/m);
      expect(output).toMatch(/< calculator \[.+\] \d+ ms: \{"expression":"21\*2","value":42\}/);
      expect(output).toMatch(/answer: .*42/);
      // Secure by default: the keys are where it says, and the server refuses a connection without one.
      expect(output).toContain(`credentials: one nkey per role in ${join(cwd, ".toolformer", "credentials")}`);
      await expect(connect({ servers: `nats://127.0.0.1:${natsPort}`, reconnect: false })).rejects.toThrow(
        /Authorization Violation/,
      );
      const { stdout } = await promisify(execFile)(process.execPath, [CLI, "tools"], {
        cwd,
        env: { ...env, NATS_URL: `nats://127.0.0.1:${natsPort}` },
      });
      expect(stdout).toMatch(/^calculator /m);
      // The README's `nats` examples: a raw client with the client's key asks, the admin's key lists the actors.
      const url = `nats://127.0.0.1:${natsPort}`;
      const keyOf = (role: string) => ({ nkeySeedFile: join(cwd, ".toolformer", "credentials", `${role}.nk`) });
      const asClient = await connect(connectionOptions(url, keyOf("client")));
      const demo = JSON.stringify({ prompt: "What is 21*2?", model: "fake:demo" });
      const answered = await asClient.request(PUBLIC_SUBJECTS.request, demo, { timeout: 30_000 });
      expect(answered.json()).toMatchObject({ status: "completed" });
      await asClient.close();
      const asAdmin = await connect(connectionOptions(url, keyOf("admin")));
      const ping = await asAdmin.request("$SRV.PING", "", { timeout: 5_000 });
      expect(ping.json<{ name: string }>().name).toMatch(/^toolformer-/);
      await asAdmin.close();
      const exitCode = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      child.kill("SIGINT");
      expect(await exitCode).toBe(0);
      expect(outputNow()).toContain("stopped");
    } finally {
      cleanUp();
    }
  }, 90_000);

  it("killed with SIGKILL, leaves nothing behind: every actor and its nats-server stop within seconds", async () => {
    const up = await startUp(["--no-demo"], "ready nats=");
    try {
      const { stdout } = await promisify(execFile)("ps", ["-o", "pid=,args=", "--ppid", String(up.child.pid)]);
      const children = stdout.split("\n").filter((line) => line.trim() !== "");
      expect(children.filter((line) => line.includes(" actor "))).toHaveLength(5);
      expect(children.filter((line) => line.includes("nats-server"))).toHaveLength(1);
      const started = children.map((line) => Number(line.trim().split(/\s+/)[0]));
      up.child.kill("SIGKILL");
      const killedAt = Date.now();
      await vi.waitFor(() => expect(started.filter(isAlive)).toEqual([]), { timeout: ORPHAN_EXIT_MS, interval: 200 });
      console.info(`toolformer up SIGKILLed: all it started exited within ${Date.now() - killedAt} ms`);
    } finally {
      up.cleanUp();
    }
  }, 90_000);

  it("with --tenants, a tenant's key sends requests through its own account (ADR 0017)", async () => {
    const up = await startUp(["--tenants", "acme", "--no-demo"], "ready nats=");
    try {
      const tenantKey = join(up.cwd, ".toolformer", "credentials", "tenants", "acme.nk");
      expect(up.output()).toContain(`tenant acme: its client is NATS_NKEY=${tenantKey}`);
      const url = `nats://127.0.0.1:${up.natsPort}`;
      const asAcme = await connect(connectionOptions(url, { nkeySeedFile: tenantKey }));
      const body = JSON.stringify({ id: "t-1", prompt: "What is 21*2?", model: "fake:demo" });
      const answered = await asAcme.request(PUBLIC_SUBJECTS.request, body, { timeout: 30_000 });
      expect(answered.json()).toMatchObject({ id: "t-1", status: "completed" });
      await asAcme.close();
    } finally {
      up.cleanUp();
    }
  }, 90_000);
});
