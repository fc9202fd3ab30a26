import { describe, expect, it } from "vitest";
import { settleAll } from "./settle-all.ts";

/** A promise settled by hand. */
const settleable = () => Promise.withResolvers<void>();

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe("settleAll", () => {
  it("settles once every promise has, whatever their order", async () => {
    const steps = [settleable(), settleable(), settleable()];
    let settled = false;
    const done = settleAll(steps.map((step) => step.promise)).finally(() => (settled = true));
    steps[2]!.resolve();
    steps[0]!.resolve();
    await turn();
    expect(settled).toBe(false);
    steps[1]!.resolve();
    await done;
  });

  it("fails with the first failure in their order only once every promise has settled", async () => {
    const steps = [settleable(), settleable(), settleable()];
    let settled = false;
    const done = settleAll(steps.map((step) => step.promise)).finally(() => (settled = true));
    steps[1]!.reject(new Error("event not stored"));
    await turn();
    expect(settled).toBe(false); // the others are still in flight
    steps[0]!.reject(new Error("the first one's failure"));
    steps[2]!.resolve();
    await expect(done).rejects.toThrow("the first one's failure");
  });
});
