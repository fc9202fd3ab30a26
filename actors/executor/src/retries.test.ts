import { describe, expect, it } from "vitest";
import { backoffMs } from "./retries.ts";

describe("retries", () => {
  it("pauses before each try of an idempotent tool twice as long as before, with up to a quarter more", () => {
    expect([backoffMs(2, () => 0), backoffMs(3, () => 0), backoffMs(3, () => 1)]).toEqual([100, 200, 250]);
  });
});
