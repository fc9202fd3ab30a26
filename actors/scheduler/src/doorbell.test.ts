import { describe, expect, it } from "vitest";
import { Doorbell } from "./doorbell.ts";

describe("doorbell", () => {
  it("wakes a waiting reader at once when it rings", async () => {
    const bell = new Doorbell();
    const started = performance.now();
    const waiting = bell.wait(10_000, new AbortController().signal);
    setTimeout(() => bell.ring(), 5);
    expect(await waiting).toBe(true);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it("keeps a ring heard while nobody waited, and hears it once", async () => {
    const bell = new Doorbell();
    bell.ring();
    bell.ring();
    expect(await bell.wait(10_000, new AbortController().signal)).toBe(true);
    expect(await bell.wait(1, new AbortController().signal)).toBe(false);
  });

  it("gives up after its time, or when the signal aborts, without a ring", async () => {
    const bell = new Doorbell();
    expect(await bell.wait(1, new AbortController().signal)).toBe(false);
    const closing = new AbortController();
    const waiting = bell.wait(10_000, closing.signal);
    closing.abort();
    expect(await waiting).toBe(false);
    expect(await bell.wait(10_000, closing.signal)).toBe(false);
  });
});
