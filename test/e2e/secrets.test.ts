import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { jetstream } from "@nats-io/jetstream";
import { natsAuthToEnv, ToolformerClient } from "@toolformer/client";
import { startFakeLlm, type FakeLlmServer, type Scenario } from "@toolformer/fake-llm";
import { ContentType, decode, ErrorCode, REDACTED, STREAMS } from "@toolformer/protocol";
import { startNatsServer, type NatsServer } from "@toolformer/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForCatalog } from "../support/environment.ts";

const CLI = fileURLToPath(new URL("../../packages/cli/bin/toolformer.mjs", import.meta.url));
const VAULT_TOOL = fileURLToPath(new URL("../support/vault-tool.ts", import.meta.url));
const ACTORS = ["rate-limiter", "executor", "scheduler", "dispatcher", "speculation"] as const;

/** Planted where an operator or a user would put them; none may show in a log line or an event. */
const SECRETS = {
  openaiKey: "sk-plantedOpenAiKey0123456789",
  anthropicKey: "sk-ant-plantedAnthropicKey0123456789",
  natsPassword: "planted-nats-password-5b1e",
  prompt: "planted-prompt-secret-91c4",
  system: "planted-system-secret-7d02",
  message: "planted-message-secret-e3a8",
  password: "planted-tool-password-4f6a",
  pin: "planted-tool-pin-0c9d",
} as const;

const VAULT_CALL = { name: "vault_read", arguments: { path: "db/main", password: SECRETS.password, pin: SECRETS.pin } };
/**
 * Reads the vault with the planted password and PIN, then answers without repeating them. It thinks
 * for a while first, so the fast model's guess of the same call is started speculatively before.
 */
const vaultScenario: Scenario = (conversation) =>
  conversation.messages.some((message) => message.role === "tool")
    ? { text: "The vault entry is open." }
    : { toolCalls: [VAULT_CALL], timeToFirstTokenMs: 1_500 };
/** The speculation engine's fast model, which guesses the vault call at once. */
const guessScenario: Scenario = () => ({ toolCalls: [VAULT_CALL] });
/** A provider (or a proxy before it) that echoes the key it was sent in its error. */
const echoesTheKey: Scenario = () => ({
  error: { status: 401, message: `Incorrect API key provided: ${SECRETS.openaiKey}.` },
});

describe("secrets stay out of logs and events", () => {
  let nats: NatsServer;
  let fake: FakeLlmServer;
  let client: ToolformerClient;
  const actors: ChildProcess[] = [];
  let logs = "";

  beforeAll(async () => {
    nats = await startNatsServer();
    fake = await startFakeLlm({
      scenarios: { vault: vaultScenario, "vault-guess": guessScenario, "echoes-the-key": echoesTheKey },
    });
    const env = {
      ...process.env,
      NATS_URL: nats.url,
      // Everything an actor logs, at every level.
      LOG_LEVEL: "trace",
      OPENAI_API_KEY: SECRETS.openaiKey,
      OPENAI_BASE_URL: fake.openaiBaseUrl,
      ANTHROPIC_API_KEY: SECRETS.anthropicKey,
      ANTHROPIC_BASE_URL: fake.anthropicBaseUrl,
      NATS_PASSWORD: SECRETS.natsPassword,
      TF_EXECUTOR_TOOLS: "",
      TF_EXECUTOR_TOOL_MODULES: VAULT_TOOL,
      TF_EXECUTOR_REMOTE_TOOLS: "false",
      // The speculation engine asks a fast model too, which guesses the vault call with its secrets.
      TF_SPECULATION_FAST_MODEL: "openai:vault-guess",
    };
    for (const name of ACTORS) {
      // Each actor as its own role; NATS_PASSWORD stays planted beside the role's key (unused without NATS_USER).
      const roleEnv = { ...env, ...natsAuthToEnv(nats.credentials(name)) };
      const child = spawn(process.execPath, [CLI, "actor", name], { env: roleEnv, stdio: ["ignore", "pipe", "pipe"] });
      child.stdout?.on("data", (chunk: Buffer) => (logs += chunk.toString()));
      child.stderr?.on("data", (chunk: Buffer) => (logs += chunk.toString()));
      actors.push(child);
    }
    client = await ToolformerClient.connect(nats.url, "secrets-test", nats.credentials("client"));
    await waitForCatalog(client, ["vault_read"], 60_000);
  }, 90_000);

  afterAll(async () => {
    await client?.close().catch(() => undefined);
    await Promise.all(actors.map(stop));
    await fake?.close();
    await nats?.stop();
  });

  it("plants keys, credentials, prompts and sensitive arguments, runs requests, and finds none of them", async () => {
    const offered = { tools: ["vault_read"], options: { speculation: true } };
    const requests = [
      {
        prompt: `open the vault; my key is ${SECRETS.prompt}`,
        system: `never say ${SECRETS.system}`,
        model: "openai:vault",
      },
      { messages: [{ role: "user" as const, content: `open it: ${SECRETS.message}` }], model: "anthropic:vault" },
      { prompt: `open the vault again; ${SECRETS.prompt}`, model: "openai:vault" },
    ];
    for (const request of requests) {
      expect(await client.request({ ...request, ...offered })).toMatchObject({ status: "completed", rounds: 1 });
    }
    const failed = await client.request({ prompt: SECRETS.prompt, model: "openai:echoes-the-key" });
    expect(failed).toMatchObject({ status: "failed", error: { code: ErrorCode.PROVIDER_ERROR } });
    // The keys were in use: both providers' SDKs were asked, with the planted keys, by the actors.
    expect(new Set(fake.received.map((received) => received.api))).toEqual(new Set(["openai", "anthropic"]));

    const events = await allEvents(nats);
    await Promise.all(actors.map(stop)); // every log line is written by the time a process exits

    // Not vacuous: the arguments did reach the events, with only the marked fields hidden, and the
    // actors logged at every level they have.
    const scheduled = events.filter((event) => event.type === "tool.scheduled");
    const speculated = events.filter((event) => event.type === "speculation.started");
    expect(scheduled).toHaveLength(requests.length);
    expect(speculated.length).toBeGreaterThan(0);
    for (const event of [...scheduled, ...speculated]) {
      expect(event.args).toEqual({ path: "db/main", password: REDACTED, pin: REDACTED });
    }
    expect(events.filter((event) => event.type === "request.completed")).toHaveLength(requests.length + 1);
    const lines = logs.split("\n").filter((line) => line.trim() !== "");
    expect(lines.filter((line) => line.includes('"msg":"serving"'))).toHaveLength(ACTORS.length);

    const eventsText = JSON.stringify(events);
    for (const [name, secret] of Object.entries(SECRETS)) {
      expect(
        lines.filter((line) => line.includes(secret)),
        `${name} in a log line`,
      ).toEqual([]);
      expect(eventsText.includes(secret), `${name} in an event`).toBe(false);
    }
  }, 120_000);
});

/** Every event the stream holds, of every request, as JSON objects. */
async function allEvents(nats: NatsServer): Promise<Record<string, unknown>[]> {
  // Read as the admin: this test looks at every tenant's events.
  const reader = await ToolformerClient.connect(nats.url, "secrets-reader", nats.credentials("admin"));
  try {
    const js = jetstream(reader.nc);
    const consumer = await js.consumers.get(STREAMS.events.name);
    const events: Record<string, unknown>[] = [];
    for (;;) {
      const batch = await consumer.fetch({ max_messages: 500, expires: 1_000 });
      let got = 0;
      for await (const msg of batch) {
        events.push(decode(msg.data, ContentType.json) as Record<string, unknown>);
        got++;
      }
      if (got === 0) return events;
    }
  } finally {
    await reader.close();
  }
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  return exited;
}
