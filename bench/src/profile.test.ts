import { describe, expect, it } from "vitest";
import { busyMs, hotspots } from "./profile.ts";

const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 1 });

describe("hotspots", () => {
  it("sums self time by package or file and ignores idle time", () => {
    const profile = {
      startTime: 0,
      endTime: 1,
      nodes: [
        { id: 1, callFrame: frame("(idle)", ""), hitCount: 1000 },
        {
          id: 2,
          callFrame: frame("publish", "file:///app/node_modules/@nats-io/jetstream/lib/jsclient.js"),
          hitCount: 30,
        },
        { id: 3, callFrame: frame("ack", "file:///app/node_modules/@nats-io/jetstream/lib/jsmsg.js"), hitCount: 20 },
        { id: 4, callFrame: frame("runCall", "file:///app/actors/executor/src/run-call.ts"), hitCount: 25 },
        { id: 5, callFrame: frame("(garbage collector)", ""), hitCount: 25 },
      ],
    };
    expect(hotspots(profile)).toEqual([
      { where: "@nats-io/jetstream", selfPercent: 50 },
      { where: "actors/executor/run-call.ts", selfPercent: 25 },
      { where: "(garbage collector)", selfPercent: 25 },
    ]);
  });
});

describe("busyMs", () => {
  it("is the profile's duration times its share of samples that were not idle", () => {
    const profile = {
      startTime: 0,
      endTime: 2_000_000,
      nodes: [
        { id: 1, callFrame: frame("(idle)", ""), hitCount: 3 },
        { id: 2, callFrame: frame("run", "file:///app/x.ts"), hitCount: 1 },
      ],
    };
    expect(busyMs(profile)).toBe(500);
  });
});
