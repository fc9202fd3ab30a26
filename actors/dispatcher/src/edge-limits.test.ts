import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { ErrorCode, REQUEST_LIMITS } from "@toolformer/protocol";
import { headers } from "@nats-io/transport-node";
import { boundedBody, oversizedRequestError, RequestReader } from "./edge-limits.ts";

describe("the edge's caps", () => {
  const cap = 64 * 1024;

  it("inflates a gzip body within the cap and passes a plain one through", async () => {
    const json = new TextEncoder().encode(JSON.stringify({ prompt: "hi", model: "fake:echo" }));
    expect(await boundedBody(gzipSync(json), "gzip", cap)).toEqual({ ok: true, data: Buffer.from(json) });
    expect(await boundedBody(json, undefined, cap)).toEqual({ ok: true, data: json });
  });

  it("refuses a body over the cap, sent as it is or inflating past it, with REQUEST_TOO_LARGE", async () => {
    const plain = await boundedBody(new Uint8Array(cap + 1), undefined, cap);
    // 64 MiB of zeros compress to about 64 KiB; inflating stops at the cap instead of making all of it.
    const bomb = await boundedBody(gzipSync(Buffer.alloc(64 * 1024 * 1024)), "gzip", cap);
    for (const refused of [plain, bomb]) {
      expect(refused).toMatchObject({
        ok: false,
        error: { code: ErrorCode.REQUEST_TOO_LARGE, details: { limit: cap } },
      });
    }
  });

  it("refuses bytes that are not gzip as an invalid request", async () => {
    const refused = await boundedBody(new Uint8Array([1, 2, 3]), "gzip", cap);
    expect(refused).toMatchObject({ ok: false, error: { code: ErrorCode.INVALID_REQUEST } });
  });

  it("names each oversized part of a valid request", () => {
    expect(oversizedRequestError({ prompt: "fits" })).toBeUndefined();
    const error = oversizedRequestError({ prompt: "p".repeat(REQUEST_LIMITS.maxPromptBytes + 1) });
    expect(error?.code).toBe(ErrorCode.REQUEST_TOO_LARGE);
    expect(error?.message).toBe(
      `prompt has ${REQUEST_LIMITS.maxPromptBytes + 1} bytes, over its cap of ${REQUEST_LIMITS.maxPromptBytes}`,
    );
  });

  it("reads heavy and light requests alike, keeping the client's id on a refusal", async () => {
    const reader = new RequestReader();
    const gzipped = headers();
    gzipped.set("Content-Encoding", "gzip");
    const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    const prompt = "p".repeat(REQUEST_LIMITS.maxPromptBytes + 1);
    const [light, heavy, oversized] = await Promise.all([
      reader.read(json({ prompt: "hi", model: "fake:echo" }), undefined),
      reader.read(gzipSync(json({ prompt: "zipped", model: "fake:echo" })), gzipped),
      reader.read(json({ id: "big-1", prompt, model: "fake:echo" }), undefined),
    ]);
    expect(light).toMatchObject({ ok: true, request: { prompt: "hi" } });
    expect(heavy).toMatchObject({ ok: true, request: { prompt: "zipped" } });
    expect(oversized).toMatchObject({ ok: false, id: "big-1", error: { code: ErrorCode.REQUEST_TOO_LARGE } });
  });
});
