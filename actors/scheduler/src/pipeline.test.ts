import { describe, expect, it } from "vitest";
import { pipelineInOrder } from "./pipeline.ts";

/** A promise settled by hand. */
const settleable = () => Promise.withResolvers<void>();

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe("pipelineInOrder", () => {
  it("starts an item's second step as soon as its own first step is done, not after every first step", async () => {
    const firsts = [settleable(), settleable(), settleable()];
    const log: string[] = [];
    const done = pipelineInOrder(
      [0, 1, 2],
      (i) => (log.push(`first ${i}`), firsts[i]!.promise),
      async (i) => void log.push(`then ${i}`),
    );
    expect(log).toEqual(["first 0", "first 1", "first 2"]);
    firsts[0]!.resolve();
    await turn();
    expect(log.slice(3)).toEqual(["then 0"]);
    firsts[2]!.resolve(); // out of order: the third waits for the second
    await turn();
    expect(log.slice(3)).toEqual(["then 0"]);
    firsts[1]!.resolve();
    await done;
    expect(log.slice(3)).toEqual(["then 0", "then 1", "then 2"]);
  });

  it("starts no second step after a failed first step, and fails once what started has settled", async () => {
    const firsts = [settleable(), settleable(), settleable()];
    const second = settleable();
    const started: number[] = [];
    let settled = false;
    const done = pipelineInOrder(
      [0, 1, 2],
      (i) => firsts[i]!.promise,
      (i) => (started.push(i), i === 0 ? second.promise : Promise.resolve()),
    ).finally(() => (settled = true));
    firsts[0]!.resolve();
    firsts[1]!.reject(new Error("not stored"));
    firsts[2]!.resolve();
    await turn();
    expect(started).toEqual([0]);
    expect(settled).toBe(false); // the first item's second step is still in flight
    second.resolve();
    await expect(done).rejects.toThrow("not stored");
    expect(started).toEqual([0]);
  });

  it("fails with a second step's failure after waiting for the others", async () => {
    const started: number[] = [];
    await expect(
      pipelineInOrder(
        [0, 1],
        async () => undefined,
        async (i) => {
          started.push(i);
          if (i === 0) throw new Error("exec not stored");
        },
      ),
    ).rejects.toThrow("exec not stored");
    expect(started).toEqual([0, 1]);
  });
});
