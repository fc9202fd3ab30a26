import { describe, expect, it } from "vitest";
import { Coalescer } from "./coalescer.ts";

const endOfTurn = () => new Promise((resolve) => setImmediate(resolve));

describe("coalescer", () => {
  it("flushes what comes in one turn together at its end, and what comes meanwhile in the next, per key, at most maxBatch at a time", async () => {
    const flushes: { key: string; items: number[]; done(): void }[] = [];
    const coalescer = new Coalescer<number>(
      (key, items) => new Promise<void>((done) => flushes.push({ key, items, done })),
      3,
    );
    coalescer.add("a", 1);
    coalescer.add("b", 10);
    coalescer.add("a", 2);
    expect(flushes).toEqual([]);
    await endOfTurn();
    expect(flushes.map(({ key, items }) => [key, items])).toEqual([
      ["a", [1, 2]],
      ["b", [10]],
    ]);
    for (const item of [3, 4, 5, 6]) coalescer.add("a", item);
    // A flush ends, then the next waits for the end of the turn in which it ended.
    const afterFlush = async (flush: { done(): void }) => {
      flush.done();
      await endOfTurn();
      await endOfTurn();
    };
    await afterFlush(flushes[0]!);
    expect(flushes.at(-1)).toMatchObject({ key: "a", items: [3, 4, 5] });
    await afterFlush(flushes.at(-1)!);
    expect(flushes.at(-1)).toMatchObject({ key: "a", items: [6] });
    await afterFlush(flushes.at(-1)!);
    // Idle again: the next item goes at the end of its turn.
    coalescer.add("a", 7);
    await endOfTurn();
    expect(flushes.at(-1)).toMatchObject({ key: "a", items: [7] });
  });
});
