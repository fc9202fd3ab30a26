import { describe, expect, it } from "vitest";
import { Coalescer } from "./coalescer.ts";

describe("coalescer", () => {
  it("flushes the first item at once and what comes meanwhile together, per key, at most maxBatch at a time", async () => {
    const flushes: { key: string; items: number[]; done(): void }[] = [];
    const coalescer = new Coalescer<number>(
      (key, items) => new Promise<void>((done) => flushes.push({ key, items, done })),
      3,
    );
    coalescer.add("a", 1);
    coalescer.add("b", 10);
    for (const item of [2, 3, 4, 5]) coalescer.add("a", item);
    expect(flushes.map(({ key, items }) => [key, items])).toEqual([
      ["a", [1]],
      ["b", [10]],
    ]);
    flushes[0]!.done();
    await new Promise((resolve) => setImmediate(resolve));
    expect(flushes.at(-1)).toMatchObject({ key: "a", items: [2, 3, 4] });
    flushes.at(-1)!.done();
    await new Promise((resolve) => setImmediate(resolve));
    expect(flushes.at(-1)).toMatchObject({ key: "a", items: [5] });
    flushes.at(-1)!.done();
    await new Promise((resolve) => setImmediate(resolve));
    // Idle again: the next item is flushed at once.
    coalescer.add("a", 6);
    expect(flushes.at(-1)).toMatchObject({ key: "a", items: [6] });
  });
});
