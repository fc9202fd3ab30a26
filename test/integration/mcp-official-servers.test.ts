/**
 * The official MCP servers as npm installs them (`@modelcontextprotocol/server-filesystem` and
 * `server-everything`, root devDependencies), mounted over stdio by an executor as an operator would:
 * how their tools are classified from their annotations, how `toolformer tools` shows them, and what
 * speculation may do with them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { natsAuthToEnv } from "@toolformer/client";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Scenario } from "@toolformer/fake-llm";
import { EventType } from "@toolformer/protocol";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";
import { ask, ofType, promptOf, toolResults, warmUp } from "../support/speculation.ts";

const serverScript = (name: string) =>
  fileURLToPath(import.meta.resolve(`@modelcontextprotocol/${name}/dist/index.js`));
const CLI = fileURLToPath(new URL("../../packages/cli/bin/toolformer.mjs", import.meta.url));

const READ_ONLY = { readOnly: true, idempotent: true };
const IDEMPOTENT = { readOnly: false, idempotent: true };
const SIDE_EFFECTS = { readOnly: false, idempotent: false };
/** Every tool the two servers list, as it should be offered: read-only, idempotent only, or neither. */
const CLASSIFIED = {
  // server-filesystem
  read_file: READ_ONLY,
  read_text_file: READ_ONLY,
  read_media_file: READ_ONLY,
  read_multiple_files: READ_ONLY,
  write_file: { ...IDEMPOTENT, destructive: true }, // overwrites: safe to repeat, never to guess
  edit_file: { ...SIDE_EFFECTS, destructive: true },
  create_directory: { ...IDEMPOTENT, destructive: false },
  list_directory: READ_ONLY,
  list_directory_with_sizes: READ_ONLY,
  directory_tree: READ_ONLY,
  move_file: { ...SIDE_EFFECTS, destructive: true },
  search_files: READ_ONLY,
  get_file_info: READ_ONLY,
  list_allowed_directories: READ_ONLY,
  // server-everything
  echo: READ_ONLY,
  "get-annotated-message": READ_ONLY,
  "get-env": READ_ONLY,
  "get-resource-links": READ_ONLY,
  "get-resource-reference": READ_ONLY,
  "get-structured-content": READ_ONLY,
  "get-sum": READ_ONLY,
  "get-tiny-image": READ_ONLY,
  "gzip-file-as-resource": { ...IDEMPOTENT, destructive: false },
  "toggle-simulated-logging": { ...SIDE_EFFECTS, destructive: false },
  "toggle-subscriber-updates": { ...SIDE_EFFECTS, destructive: false },
  "trigger-long-running-operation": READ_ONLY,
  "simulate-research-query": { ...SIDE_EFFECTS, destructive: false },
};

/**
 * How long the model thinks before it asks to write the copy: the window in which a write guessed by
 * speculation would land first. The right behaviour holds however long it is.
 */
const THINKS_BEFORE_WRITING_MS = 1_000;
/** Whether each target existed at the moment the model asked to write it. */
const existedWhenAsked = new Map<string, boolean>();

/** An agent told "Copy <source> to <target>": it reads the source, then writes its text to the target. */
const copier: Scenario = async (c) => {
  const [, source, target] = /^Copy (\S+) to (\S+)$/.exec(promptOf(c)) ?? [];
  const results = toolResults(c);
  if (results.length === 0)
    return { timeToFirstTokenMs: 300, toolCalls: [{ name: "read_text_file", arguments: { path: source } }] };
  if (results.length === 1) {
    const { content } = JSON.parse(results[0]!.content) as { content: string };
    await sleep(THINKS_BEFORE_WRITING_MS);
    existedWhenAsked.set(target!, existsSync(target!));
    return { toolCalls: [{ name: "write_file", arguments: { path: target, content } }] };
  }
  return { text: "copied" };
};

describe("the official MCP servers from npm, over stdio", () => {
  let env: TestEnvironment;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "toolformer-mcp-official-"));
    env = await startEnvironment({
      tools: [], // server-everything has its own `echo`
      mcpServers: {
        files: { command: process.execPath, args: [serverScript("server-filesystem"), dir] },
        everything: { command: process.execPath, args: [serverScript("server-everything"), "stdio"] },
      },
      // Every tool, so the offered tools (part of what the history model learns by) no longer change.
      waitForTools: Object.keys(CLASSIFIED),
      scenarios: { copier },
    });
  });
  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  });

  it("classifies every tool by its annotations: read-only, idempotent only, or side effects, with destructive where declared", async () => {
    const { tools } = await env.client.tools();
    const classified = Object.fromEntries(
      tools.map(({ name, readOnly, idempotent, destructive }) => [
        name,
        { readOnly, idempotent, ...(destructive === undefined ? {} : { destructive }) },
      ]),
    );
    expect(classified).toEqual(CLASSIFIED);
    expect(new Set(tools.map((tool) => tool.source))).toEqual(new Set(["mcp"]));
  });

  it("toolformer tools shows read-only, idempotent, side effects and destructive", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, "tools"], {
      env: { ...process.env, NATS_URL: env.natsUrl, ...natsAuthToEnv(env.nats.credentials("client")) },
    });
    const shown = (tool: string, traits: string) => new RegExp(`^${tool} .*\\[mcp, ${traits}\\]$`, "m");
    expect(stdout).toMatch(shown("read_text_file", "read-only"));
    expect(stdout).toMatch(shown("get_file_info", "read-only"));
    expect(stdout).toMatch(shown("write_file", "idempotent, destructive"));
    expect(stdout).toMatch(shown("create_directory", "idempotent"));
    expect(stdout).toMatch(shown("move_file", "side effects, destructive"));
    expect(stdout).toMatch(shown("toggle-simulated-logging", "side effects"));
  });

  it("with speculation on, reads ahead of the model but never writes a file before the model asks", async () => {
    const source = join(dir, "source.txt");
    writeFileSync(source, "the text to copy\n");
    // The same copy three times: the history model learns to expect the read, then the write of its text.
    await warmUp(env, "copy", {
      model: "fake:copier",
      prompt: (i) => `Copy ${source} to ${join(dir, `learned-${i}.txt`)}`,
      lastTools: ["write_file"],
    });
    const target = join(dir, "watched.txt");
    const { reply, events } = await ask(env, "copy-watched", "fake:copier", `Copy ${source} to ${target}`);

    // The write was predicted with the right arguments, yet the file did not exist until the model asked.
    expect(existedWhenAsked.get(target)).toBe(false);
    expect(readFileSync(target, "utf8")).toBe("the text to copy\n");
    const speculated = ofType(events, EventType.speculationStarted).map((started) => started.tool);
    expect(speculated).toEqual(["read_text_file"]);
    expect(reply.toolCalls.map((call) => [call.tool, call.status, call.speculative])).toEqual([
      ["read_text_file", "succeeded", true], // the read-only call was speculated, and taken over
      ["write_file", "succeeded", false],
    ]);
  });
});
