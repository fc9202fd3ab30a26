import { describe, expect, it } from "vitest";
import { turnBatches, type Defer } from "./turn-batches.ts";

/** A turn the test ends by hand. */
function manualTurns() {
  const flushes: (() => void)[] = [];
  const defer: Defer = (flush) => {
    flushes.push(flush);
    return { cancel: () => flushes.splice(flushes.indexOf(flush), 1) };
  };
  return { defer, endTurn: () => flushes.splice(0).forEach((flush) => flush()), pending: () => flushes.length };
}

describe("turn batches", () => {
  it("hands on what arrived in one turn as one batch, in arrival order, once the turn ends", () => {
    const batches: number[][] = [];
    const turns = manualTurns();
    const results = turnBatches<number>((items) => batches.push(items), turns.defer);
    results.add(1);
    results.add(2);
    results.add(3);
    expect(batches).toEqual([]);
    expect(turns.pending()).toBe(1);
    turns.endTurn();
    results.add(4);
    turns.endTurn();
    expect(batches).toEqual([[1, 2, 3], [4]]);
  });

  it("hands on nothing gathered before a cancel", () => {
    const batches: number[][] = [];
    const turns = manualTurns();
    const results = turnBatches<number>((items) => batches.push(items), turns.defer);
    results.add(1);
    results.cancel();
    turns.endTurn();
    expect(batches).toEqual([]);
  });

  it("on the real event loop, gathers what arrives in one turn and hands it on in the same turn", async () => {
    const batches: number[][] = [];
    const results = turnBatches<number>((items) => batches.push(items));
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        results.add(1);
        results.add(2);
        // Handed on in this turn's check phase, before the next turn's I/O.
        setImmediate(() => resolve());
      }),
    );
    expect(batches).toEqual([[1, 2]]);
  });
});
