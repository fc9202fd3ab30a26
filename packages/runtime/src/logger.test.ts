import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { REDACTED } from "@toolformer/protocol";
import { createLogger } from "./logger.ts";

function capture(): { lines: () => Record<string, unknown>[]; stream: Writable } {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return {
    stream,
    lines: () =>
      text
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe("the actors' logger", () => {
  it("censors provider keys, credentials, prompts and tool arguments, at the top and one level down", () => {
    const { stream, lines } = capture();
    const log = createLogger("dispatcher", "d-1", "info", stream);
    log.info({ config: { apiKey: "sk-planted", natsUrl: "nats://127.0.0.1:4222" } }, "configured");
    log.info({ password: "hunter2", nats: { user: "ada", pass: "hunter2", token: "t0k" } }, "connected");
    log.warn({ requestId: "r1", prompt: "my key is sk-planted", call: { tool: "login", args: { pw: "x" } } }, "x");
    log.error({ err: { message: "401", headers: { authorization: "Bearer sk-planted", "x-api-key": "sk-ant" } } }, "y");
    const text = JSON.stringify(lines());
    for (const secret of ["sk-planted", "hunter2", "t0k", "sk-ant", '"pw"']) expect(text).not.toContain(secret);
    const [configured, connected, warned] = lines();
    // Only the secrets go: what an operator needs to read the line stays.
    expect(configured?.config).toEqual({ apiKey: REDACTED, natsUrl: "nats://127.0.0.1:4222" });
    expect(connected?.nats).toEqual({ user: "ada", pass: REDACTED, token: REDACTED });
    expect(warned).toMatchObject({ requestId: "r1", prompt: REDACTED, call: { tool: "login", args: REDACTED } });
  });
});
