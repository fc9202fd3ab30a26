import { describe, expect, it } from "vitest";
import { metricsPorts } from "./up.ts";

describe("metricsPorts", () => {
  it("gives every actor copy its own port, counted up from the base", () => {
    const ports = metricsPorts({ dispatcher: 2, scheduler: 1, "rate-limiter": 0, speculation: 1, executor: 2 }, 9464);
    expect([...ports]).toEqual([
      ["dispatcher#1", 9464],
      ["dispatcher#2", 9465],
      ["scheduler#1", 9466],
      ["speculation#1", 9467],
      ["executor#1", 9468],
      ["executor#2", 9469],
    ]);
  });
});
