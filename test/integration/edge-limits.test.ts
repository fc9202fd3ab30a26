import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { headers } from "@nats-io/transport-node";
import { natsAuthToEnv } from "@toolformer/client";
import {
  ContentType,
  decode,
  encode,
  ErrorCode,
  Header,
  OrchestrateReplySchema,
  PUBLIC_SUBJECTS,
  REQUEST_LIMITS,
  type OrchestrateReply,
} from "@toolformer/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

const json = (value: unknown) => encode(value, ContentType.json);
/** 64 MiB of zeros: about 64 KiB on the wire, what the edge used to inflate on its event loop. */
const BOMB = gzipSync(Buffer.alloc(64 * 1024 * 1024));

describe("the public edge's caps", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startEnvironment();
  });
  afterAll(async () => env?.[Symbol.asyncDispose]());

  async function send(body: Uint8Array, gzip = false): Promise<OrchestrateReply> {
    const h = headers();
    h.set(Header.contentType, ContentType.json);
    if (gzip) h.set(Header.contentEncoding, "gzip");
    const reply = await env.client.nc.request(PUBLIC_SUBJECTS.request, body, { headers: h, timeout: 10_000 });
    return OrchestrateReplySchema.parse(decode(reply.data, ContentType.json));
  }

  it("runs a gzip-compressed request like any other", async () => {
    const reply = await send(gzipSync(json({ prompt: "compressed hello", model: "fake:echo" })), true);
    expect(reply).toMatchObject({ status: "completed", answer: "compressed hello" });
  });

  it("refuses a gzip bomb with REQUEST_TOO_LARGE, and bytes that are not gzip as invalid", async () => {
    expect(await send(BOMB, true)).toMatchObject({
      status: "rejected",
      error: { code: ErrorCode.REQUEST_TOO_LARGE, details: { limit: REQUEST_LIMITS.maxBodyBytes } },
    });
    expect(await send(json({ prompt: "hi", model: "fake:echo" }), true)).toMatchObject({
      status: "rejected",
      error: { code: ErrorCode.INVALID_REQUEST, message: expect.stringMatching(/not valid gzip/) },
    });
  });

  it("refuses a prompt, a system prompt or messages over their caps, naming each, and runs nothing", async () => {
    const reply = await send(
      json({
        id: "edge-oversized",
        prompt: "p".repeat(REQUEST_LIMITS.maxPromptBytes + 1),
        system: "s".repeat(REQUEST_LIMITS.maxSystemBytes + 1),
        model: "fake:echo",
      }),
    );
    expect(reply).toMatchObject({ id: "edge-oversized", status: "rejected", toolCalls: [] });
    expect(reply.error?.code).toBe(ErrorCode.REQUEST_TOO_LARGE);
    expect(reply.error?.details).toEqual({
      oversized: [
        {
          path: "prompt",
          limit: REQUEST_LIMITS.maxPromptBytes,
          actual: REQUEST_LIMITS.maxPromptBytes + 1,
          unit: "bytes",
        },
        {
          path: "system",
          limit: REQUEST_LIMITS.maxSystemBytes,
          actual: REQUEST_LIMITS.maxSystemBytes + 1,
          unit: "bytes",
        },
      ],
    });
    const messages = Array.from({ length: REQUEST_LIMITS.maxMessages + 1 }, () => ({ role: "user", content: "m" }));
    expect(await send(json({ messages, model: "fake:echo" }))).toMatchObject({
      status: "rejected",
      error: { code: ErrorCode.REQUEST_TOO_LARGE, message: expect.stringMatching(/^messages has 1025 messages/) },
    });
    // Under the caps, the same kind of request runs.
    const fits = await send(json({ prompt: "p".repeat(REQUEST_LIMITS.maxPromptBytes), model: "fake:echo" }));
    expect(fits.status).toBe("completed");
  });

  it("keeps answering normal requests promptly while another process floods it with bombs and oversized prompts", async () => {
    const normal = async () => {
      const startedAt = performance.now();
      const reply = await env.client.request({ prompt: "hello", model: "fake:echo" });
      expect(reply.status).toBe("completed");
      return performance.now() - startedAt;
    };
    const medianOf = async (samples: number) => {
      const latencies: number[] = [];
      for (let i = 0; i < samples; i++) latencies.push(await normal());
      return latencies.sort((a, b) => a - b)[Math.floor(samples / 2)]!;
    };
    await medianOf(5); // warm up: connections, JIT, the consumer's first pull
    const alone = await medianOf(SAMPLES);

    // An abusive client has a client's credentials, no more.
    const flood = spawn(process.execPath, [FLOOD, env.natsUrl, String(FLOOD_SENDERS)], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, ...natsAuthToEnv(env.nats.credentials("client")) },
    });
    let output = "";
    flood.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise((resolve) => flood.once("exit", resolve));
    let beside: number;
    try {
      await until(() => output.includes("ready") || flood.exitCode !== null);
      beside = await medianOf(SAMPLES);
    } finally {
      flood.kill("SIGTERM");
      await exited;
    }
    const ratio = beside / alone;
    const { refused } = JSON.parse(output.slice(output.indexOf("{"))) as { refused: Record<string, number> };
    console.log(
      `edge flood: median normal request ${alone.toFixed(1)} ms alone, ${beside.toFixed(1)} ms beside ` +
        `${FLOOD_SENDERS} senders of gzip bombs and oversized prompts (refused meanwhile: ${JSON.stringify(refused)}): ` +
        `ratio ${ratio.toFixed(2)}`,
    );
    // Every hostile request was refused as too large, and there were many of them while we measured.
    expect(Object.keys(refused)).toEqual([ErrorCode.REQUEST_TOO_LARGE]);
    expect(refused[ErrorCode.REQUEST_TOO_LARGE]).toBeGreaterThan(SAMPLES);
    // Generous: when the edge inflated on its event loop, each bomb held it for a whole 64 MiB inflate.
    expect(ratio).toBeLessThan(MAX_RATIO);
  }, 120_000);
});

const FLOOD = fileURLToPath(new URL("../support/edge-flood.ts", import.meta.url));
const SAMPLES = 30;
const FLOOD_SENDERS = 16;
const MAX_RATIO = 10;

async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 20));
}
