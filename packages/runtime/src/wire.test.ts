import { describe, expect, it } from "vitest";
import { gzipSync } from "node:zlib";
import { Header } from "@toolformer/protocol";
import { z } from "zod";
import { COMPRESS_ABOVE_BYTES, decodeValidated, internalHeaders, packInternal } from "./wire.ts";

const envelope = { requestId: "r", traceparent: "t", deadline: 1 };
const Body = z.object({ text: z.string() });

describe("internal messages", () => {
  it("travel as they are when small, gzip-compressed when large, and decode the same", () => {
    const small = packInternal({ text: "hi" }, envelope);
    expect(small.headers.get(Header.contentEncoding)).toBe("");
    const text = "result ".repeat(COMPRESS_ABOVE_BYTES);
    const large = packInternal({ text }, envelope);
    expect(large.headers.get(Header.contentEncoding)).toBe("gzip");
    expect(large.data.byteLength).toBeLessThan(text.length / 20);
    expect(decodeValidated(large.data, large.headers, Body)).toEqual({ ok: true, value: { text }, raw: { text } });
    expect(decodeValidated(small.data, small.headers, Body)).toEqual({
      ok: true,
      value: { text: "hi" },
      raw: { text: "hi" },
    });
  });

  it("refuse a compressed body that would inflate past the limit, without throwing", () => {
    const headers = internalHeaders(envelope);
    headers.set(Header.contentEncoding, "gzip");
    const bomb = gzipSync(Buffer.alloc(80 * 1024 * 1024));
    const decoded = decodeValidated(bomb, headers, Body);
    expect(decoded.ok).toBe(false);
    expect(decodeValidated(new Uint8Array([1, 2, 3]), headers, Body).ok).toBe(false);
  });
});
